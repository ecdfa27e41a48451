"""A job's output as one object with one lifecycle, in the shape of Ray Data's ``Datasink``.

    prepare (SaveMode, once, by run_batch)  ->  open_part(shard) -> write ... -> commit | abort
    (each worker, per shard attempt)        ->  discard_attempts (a dead attempt's temp files)
    complete (the supervisor: every part checked, then ``_SUCCESS`` written last)

The guarantees: a part is committed by publishing it under its final name only if no
attempt did before (the first commit wins, so neither a retry nor a zombie attempt leaves
two copies or replaces a committed part), and ``_SUCCESS`` is written after every part.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from squall.batch.output import (
    PartWriter,
    check_parts,
    part_counts,
    part_name,
    prepare_output,
    remove_temp_parts,
    write_success,
)

__all__ = ["PartSink"]


class PartSink:
    """The parts of one job's output folder, one per input shard, and its ``_SUCCESS``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    @staticmethod
    def prepare(stages: Any, location: str, mode: Any, *, dry_run: bool = False) -> str:
        """Make the output location ready per the SaveMode; return it normalised."""
        return prepare_output(stages, location, mode, dry_run=dry_run)

    # -- a worker's side ------------------------------------------------------------------
    def open_part(self, shard: int) -> PartWriter:
        """A writer of one attempt at the shard's part: ``write``, then ``commit`` or ``abort``."""
        return PartWriter(self.folder, shard)

    def committed(self, shard: int) -> bool:
        return (self.folder / part_name(shard)).exists()

    def counts(self, shard: int) -> tuple[int, int]:
        """The committed part's rows and error rows."""
        return part_counts(self.folder / part_name(shard))

    # -- the supervisor's side ------------------------------------------------------------
    def commit_bytes(self, shard: int, data: bytes) -> bool:
        """Publish a part a worker wrote where it cannot see this folder (its bytes came
        back to the supervisor); False when another attempt had committed it first."""
        import uuid

        from squall.batch.output import _publish

        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{part_name(shard)}.{uuid.uuid4().hex}.tmp"
        try:
            tmp.write_bytes(data)
            return _publish(tmp, self.folder / part_name(shard))
        finally:
            tmp.unlink(missing_ok=True)

    def discard_attempts(self, shard: int | None = None) -> list[str]:
        """Remove temporary files of unfinished attempts (of one shard, or all); return them.

        Only when no worker can be writing them: a dead worker's, or before a run's workers
        are handed shards.
        """
        return remove_temp_parts(self.folder, shard)

    def complete(
        self, shard_rows: dict[int, int], *, per_row: bool, summary: dict[str, Any]
    ) -> str | None:
        """Check every part (one per shard; with ``per_row`` as many rows as its shard), then
        write ``_SUCCESS``; return what is wrong instead, writing nothing."""
        problem = check_parts(self.folder, shard_rows, per_row=per_row)
        if problem:
            return problem
        remove_temp_parts(self.folder)
        write_success(self.folder, summary)
        return None
