"""The hooks a model kind may use for large models: resources at load, close(), fork-safety
and the whole-shard Arrow stream call mode; run in-process through the worker's ShardRunner."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.batch.output import part_name
from squall.batch.plan import JobPlan
from squall.batch.shards import IpcShard
from squall.batch.worker import ShardRunner
from squall.model import save_model
from squall.model._manifest import FunctionInfo, Manifest
from squall.model.handlers import MODEL_KINDS, ModelHandler, is_fork_safe, register_handler
from squall.model.resources import Resources
from squall.model.signature import DataType, FeatureSpec, ModelSignature, ParamSpec
from tests.compute.plans import make_plan, write_shard

CALLS: list[Any] = []  # what the handler saw, in this process


class Engine:
    """Stands for an engine that schedules its own batches (vLLM-like): it wants them all."""


class _Loaded:
    def __init__(self, resources: Resources | None) -> None:
        CALLS.append(("load", resources))

    def predict(self, batches: Iterator[pa.RecordBatch], *, scale: float = 1.0) -> Iterator[Any]:
        # Regroups its input: outputs do not line up with input batches.
        pending: list[float] = []
        for batch in batches:
            CALLS.append(("batch", batch.schema.names, batch.num_rows))
            pending.extend(batch.column("X").to_pylist())
            while len(pending) >= 7:
                yield pd.DataFrame({"y": [v * scale for v in pending[:7]]})
                pending = pending[7:]
        if pending:
            yield pa.table({"y": [v * scale for v in pending]})

    def close(self) -> None:
        CALLS.append(("close",))


class StreamHandler(ModelHandler):
    name = "streamer"
    call_mode = "stream"
    fork_safe = False

    def can_handle(self, model: Any) -> bool:
        return isinstance(model, Engine)

    def save(
        self,
        model: Any,
        folder: Path,
        *,
        sample_input_data: Any,
        signatures: Mapping[str, ModelSignature] | None,
        options: Mapping[str, Any],
    ) -> dict[str, FunctionInfo]:
        sig = ModelSignature(
            [FeatureSpec("X", DataType.DOUBLE)],
            [FeatureSpec("y", DataType.DOUBLE)],
            [ParamSpec("scale", DataType.DOUBLE, 1.0)],
        )
        return {"predict": FunctionInfo("predict", sig, "inference")}

    def load(self, folder: Path, manifest: Manifest, resources: Resources | None = None) -> Any:
        return _Loaded(resources)

    def save_object(self, model: Any, folder: Path) -> None:
        raise NotImplementedError

    def load_object(self, folder: Path) -> Any:
        raise NotImplementedError


@pytest.fixture
def streamer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MODEL_KINDS, "_kinds", dict(MODEL_KINDS._kinds))
    register_handler("streamer", f"{__name__}:StreamHandler")
    CALLS.clear()


def _shard(tmp_path: Path, rows: int) -> IpcShard:
    table = pa.table({"id": list(range(rows)), "x": [float(i) for i in range(rows)]})
    return IpcShard(write_shard(tmp_path / "shard.arrow", table))


def _plan(tmp_path: Path, model: Path, **changes: Any) -> JobPlan:
    return make_plan(tmp_path, model, model_columns=["x"], max_batch_rows=5, **changes)


def test_a_stream_kind_gets_the_whole_shard_and_its_outputs_line_up(
    streamer: None, tmp_path: Path
) -> None:
    model = tmp_path / "model"
    save_model(Engine(), model)
    plan = _plan(tmp_path, model, params={"scale": 10.0})
    runner = ShardRunner(plan, None, Resources(threads=2, gpus=(1,)))
    seen: list[int] = []
    result = runner.run(0, _shard(tmp_path, 23), lambda rows, errors: seen.append(rows))
    assert (result.rows, result.error_rows) == (23, 0)
    assert sum(seen) == 23
    part = pq.read_table(Path(plan.output_dir) / part_name(0))
    assert part.column("id").to_pylist() == list(range(23))
    assert part.column("y").to_pylist() == [i * 10.0 for i in range(23)]
    batches = [c for c in CALLS if c[0] == "batch"]
    # One call for the whole shard, fed batch by batch, columns named as in the signature.
    assert [c[2] for c in batches] == [5, 5, 5, 5, 3]
    assert all(c[1] == ["X"] for c in batches)
    load = CALLS[0]
    assert load[0] == "load" and load[1].threads == 2 and load[1].device == "cuda"
    runner.close()
    assert CALLS[-1] == ("close",)


def test_a_stream_that_drops_rows_fails_the_shard(streamer: None, tmp_path: Path) -> None:
    model = tmp_path / "model"
    save_model(Engine(), model)
    runner = ShardRunner(_plan(tmp_path, model), None)

    def one_row(batches: Iterator[pa.RecordBatch]) -> Iterator[pd.DataFrame]:
        for _batch in batches:
            pass
        yield pd.DataFrame({"y": [1.0]})

    runner.call_stream = one_row
    with pytest.raises(ValueError, match="returned 22 row"):
        runner.run(0, _shard(tmp_path, 23))
    assert not (tmp_path / "out" / part_name(0)).exists()


def test_fork_safety_is_known_without_importing_the_kind(streamer: None) -> None:
    assert is_fork_safe("sklearn") and is_fork_safe("custom")
    assert not is_fork_safe("streamer")  # read off the class
    register_handler("lazy", "no_such_package.kind:Handler", fork_safe=False)
    assert not is_fork_safe("lazy")  # declared: nothing imported


def test_resources_name_the_device() -> None:
    assert Resources().device == "cpu"
    assert Resources(gpus=(0, 1)).device == "cuda"
