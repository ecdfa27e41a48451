"""A job's output as one object with one lifecycle, in the shape of Ray Data's ``Datasink``.

    prepare (SaveMode, once, by run_batch)  ->  open_part(shard) -> write ... -> commit | abort
    (each worker, per shard attempt)        ->  discard_attempts (a dead attempt's temp files)
    complete (the supervisor: every part checked, then ``_SUCCESS`` written last)

The sink addresses its folder through a stage (``PartSink.at(stages, "@out/run1/")``), so
whoever holds the stage can write parts: a part is written to a temporary file, then
committed with the stage's publish-once primitive, which keeps the first part to take the
name and refuses any later one (so neither a retry nor a zombie attempt leaves two copies or
replaces a committed part); ``_SUCCESS`` is written after every part.

On a stage in a local folder (an internal stage) the temporary file lies next to the part,
as a dot-file ending ``.tmp`` that readers skip, and commits as a hard link
(``Stage.commit_part``). On any other stage it is written in the local temporary folder and
uploaded with ``Stage.put_if_absent`` (on S3 a conditional write, ``If-None-Match: *``), so
no unfinished part is ever seen on the stage.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.batch.output import (
    SUCCESS_FILE,
    PartWriter,
    part_counts,
    part_name,
    prepare_output,
    remove_temp_parts,
    temp_part_name,
    write_success,
)

if TYPE_CHECKING:
    from squall.batch.plan import JobPlan
    from squall.stages import Stage, StageManager

__all__ = ["PartSink"]


class PartSink:
    """The parts of one job's output folder, one per input shard, and its ``_SUCCESS``.

    ``PartSink(folder)`` is a plain local folder; ``PartSink.at(stages, location)`` (or
    ``PartSink(stage, rel)``) a folder on a stage.
    """

    def __init__(self, target: str | Path | Stage, rel: str = "") -> None:
        from squall.stages.internal import InternalStage

        if isinstance(target, str | Path):
            target, rel = InternalStage.for_folder(target), ""
        self.stage: Stage = target
        self.rel = rel.strip("/")
        # The folder's OS path when the stage keeps its files in one (the fast path).
        self.local: Path | None = (
            Path(target.full_path(self.rel)) if isinstance(target, InternalStage) else None
        )

    @classmethod
    def at(cls, stages: StageManager, location: str) -> PartSink:
        """The sink of an output location (``@stage/path/``)."""
        stage, rel = stages.resolve(location)
        return cls(stage, rel)

    @classmethod
    def of_plan(cls, plan: JobPlan, stages: StageManager | None) -> PartSink:
        """A job's sink, addressed by its output location through ``stages``; without
        stages (a worker that was handed none), the plan's local folder."""
        if stages is None:
            return cls(plan.output_dir)
        return cls.at(stages, plan.output_location)

    @staticmethod
    def prepare(stages: Any, location: str, mode: Any, *, dry_run: bool = False) -> str:
        """Make the output location ready per the SaveMode; return it normalised."""
        return prepare_output(stages, location, mode, dry_run=dry_run)

    def _rel(self, name: str) -> str:
        return f"{self.rel}/{name}" if self.rel else name

    # -- a worker's side ------------------------------------------------------------------
    def open_part(self, shard: int) -> PartWriter:
        """A writer of one attempt at the shard's part: ``write``, then ``commit`` or ``abort``."""
        final = self._rel(part_name(shard))
        if self.local is not None:
            stage = self.stage

            def commit(tmp: Path) -> bool:
                return stage.commit_part(self._rel(tmp.name), final)

            return PartWriter(self.local, shard, publish=commit)
        return PartWriter(Path(tempfile.gettempdir()), shard, publish=self._uploader(final))

    def _uploader(self, final: str) -> Any:
        stage = self.stage

        def upload(tmp: Path) -> bool:
            return stage.put_if_absent(tmp, final)

        return upload

    def committed(self, shard: int) -> bool:
        if self.local is not None:
            return (self.local / part_name(shard)).exists()
        return self.stage.is_file(self._rel(part_name(shard)))

    def counts(self, shard: int) -> tuple[int, int]:
        """The committed part's rows and error rows."""
        if self.local is not None:
            return part_counts(self.local / part_name(shard))
        with self.stage.open(self._rel(part_name(shard))) as f:
            return part_counts(f)

    def _rows(self, shard: int) -> int:
        import pyarrow.parquet as pq

        if self.local is not None:
            return int(pq.read_metadata(self.local / part_name(shard)).num_rows)
        with self.stage.open(self._rel(part_name(shard))) as f:
            return int(pq.read_metadata(f).num_rows)

    # -- the supervisor's side ------------------------------------------------------------
    def commit_bytes(self, shard: int, data: bytes) -> bool:
        """Publish a part a worker wrote where it cannot see this sink (its bytes came back
        to the supervisor); False when another attempt had committed it first."""
        final = self._rel(part_name(shard))
        if self.local is not None:
            self.local.mkdir(parents=True, exist_ok=True)
            name = temp_part_name(shard)
            (self.local / name).write_bytes(data)
            return self.stage.commit_part(self._rel(name), final)
        tmp = Path(tempfile.gettempdir()) / temp_part_name(shard)
        try:
            tmp.write_bytes(data)
            return bool(self._uploader(final)(tmp))
        finally:
            tmp.unlink(missing_ok=True)

    def discard_attempts(self, shard: int | None = None) -> list[str]:
        """Remove temporary files of unfinished attempts (of one shard, or all); return them.

        Only when no worker can be writing them: a dead worker's, or before a run's workers
        are handed shards.
        """
        if self.local is not None:
            return remove_temp_parts(self.local, shard)
        # Parts are uploaded whole, so a stage in the cloud holds none; the local files of
        # attempts that died are the temporary folder's to clean.
        return []

    def complete(
        self, shard_rows: dict[int, int], *, per_row: bool, summary: dict[str, Any]
    ) -> str | None:
        """Check every part (one per shard; with ``per_row`` as many rows as its shard), then
        write ``_SUCCESS``; return what is wrong instead, writing nothing."""
        problem = self.check(shard_rows, per_row=per_row)
        if problem:
            return problem
        self.discard_attempts()
        if self.local is not None:
            write_success(self.local, summary)
        else:
            text = json.dumps(summary, indent=1, default=str) + "\n"
            self.stage.write_bytes(self._rel(SUCCESS_FILE), text.encode())
        return None

    def check(self, shard_rows: dict[int, int], *, per_row: bool) -> str | None:
        """What is wrong with the committed parts, or None: one part per shard, and with
        ``per_row`` (one output row per input row) as many rows as the shard has."""
        for shard, rows in sorted(shard_rows.items()):
            name = part_name(shard)
            if not self.committed(shard):
                return f"{name} is missing"
            if per_row:
                found = self._rows(shard)
                if found != rows:
                    return f"{name} holds {found} rows, its shard {rows}"
        return None
