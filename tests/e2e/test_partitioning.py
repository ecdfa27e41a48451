"""Partitioned runs: batches of one partition, whole-partition calls, refusals, skew."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import InvalidSpecError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame
from tests.e2e.partition_models import BatchRecorder, Forecaster, OutputsStore, stores

TABLE = {"function_type": "TABLE_FUNCTION"}


@pytest.fixture
def results(session: squall.Session) -> str:
    session.create_stage("results")
    return "@results"


def read(session: squall.Session, location: str) -> pd.DataFrame:
    return session.read.parquet(location).to_pandas()


def log(session: squall.Session, model: custom_model.CustomModel, name: str, **kw):
    return Registry(session).log_model(
        model, model_name=name, sample_input_data=stores({1: 3, 2: 2}), **kw
    )


def shard_rows_of(session: squall.Session, job) -> list[int]:
    rows = session.catalog.query(
        "SELECT rows FROM shards WHERE job_id = ? ORDER BY shard", (job.id,)
    )
    return [r["rows"] for r in rows]


def test_inference_batches_never_mix_partitions(session, results):
    mv = log(session, BatchRecorder(custom_model.ModelContext()), "recorder", options=TABLE)
    data = stores({s: 20 + 37 * s for s in range(12)})  # 12 stores of 20..427 rows, shuffled
    job = mv.run_batch(
        session.create_dataframe(data),
        input_spec=InputSpec(partition_column="STORE"),  # names match ignoring case
        output_spec=OutputSpec(stage_location=f"{results}/rec/"),
        job_spec=JobSpec(num_workers=2, max_batch_rows=50, shard_rows=600, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read(session, f"{results}/rec/")
    # one row per input row, every input column passed through
    assert list(out.columns) == [
        "id",
        "store",
        "x",
        "y",
        "batch_id",
        "batch_keys",
        "batch_rows",
        "pid",
    ]
    out = out.sort_values("id").reset_index(drop=True)
    assert out["id"].tolist() == data["id"].tolist()
    assert out["store"].tolist() == data["store"].tolist()
    assert (out["y"] == data["x"] + 1).all()
    # no batch held rows of two stores, and no batch was larger than max_batch_rows
    assert set(out["batch_keys"]) == {1}
    assert out.groupby("batch_id")["store"].nunique().max() == 1
    assert out["batch_rows"].max() <= 50
    # a store's rows are cut only where max_batch_rows forces it
    batches = out.groupby("store")["batch_id"].nunique()
    sizes = data.groupby("store").size()
    assert (batches == np.ceil(sizes / 50).astype(int)).all()
    # each store went to one worker, whole, in one shard; shards are of whole stores
    assert out.groupby("store")["pid"].nunique().max() == 1
    # stores staged largest first (427, 390, 353, ...), a shard closed between two stores
    # once it holds 600 rows
    assert shard_rows_of(session, job) == [
        427 + 390,
        353 + 316,
        279 + 242 + 205,
        168 + 131 + 94 + 57 + 20,
    ]


def test_partitioned_function_is_called_once_per_partition(session, results):
    mv = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    data = stores({7: 120, 3: 45, 11: 1, 5: 300})
    job = mv.run_batch(
        session.create_dataframe(data),
        input_spec=InputSpec(partition_column="store", params={"HORIZON": 4}),
        output_spec=OutputSpec(stage_location=f"{results}/fc/"),
        job_spec=JobSpec(num_workers=2, shard_rows=100, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read(session, f"{results}/fc/")
    # the partition column, then the function's outputs; any number of rows per partition
    assert list(out.columns) == [
        "store",
        "step",
        "forecast",
        "rows_seen",
        "keys_seen",
        "first_x",
        "pid",
    ]
    assert len(out) == 4 * 4
    out = out.sort_values(["store", "step"]).reset_index(drop=True)
    assert out["store"].tolist() == [s for s in (3, 5, 7, 11) for _ in range(4)]
    assert out["step"].tolist() == [1, 2, 3, 4] * 4
    per_store = out.groupby("store").first()
    sizes = data.groupby("store").size()
    assert per_store["rows_seen"].to_dict() == sizes.to_dict()  # whole partitions
    assert set(out["keys_seen"]) == {1}
    means = data.groupby("store")["x"].mean()
    np.testing.assert_allclose(per_store["forecast"], means + 1)
    # rows reach the function in input order
    assert per_store["first_x"].to_dict() == data.groupby("store")["x"].min().to_dict()
    p = job.progress
    assert (p.rows_done, p.rows_total) == (len(data), len(data))
    # largest partitions are staged first; a shard closes only between partitions
    assert shard_rows_of(session, job) == [300, 120, 46]


def test_partitioned_function_without_partition_column_sees_one_partition(session, results):
    mv = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    data = stores({1: 500, 2: 700})
    job = mv.run_batch(
        data,
        output_spec=OutputSpec(stage_location=f"{results}/all/"),
        job_spec=JobSpec(num_workers=2, shard_rows=100, max_batch_rows=64, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read(session, f"{results}/all/")
    assert list(out.columns) == ["step", "forecast", "rows_seen", "keys_seen", "first_x", "pid"]
    assert out["step"].tolist() == [1, 2, 3]
    assert out["rows_seen"].tolist() == [1200] * 3
    assert out["keys_seen"].tolist() == [2] * 3
    assert out["first_x"].tolist() == [0.0] * 3
    assert shard_rows_of(session, job) == [1200]


def test_partitioned_function_on_sql_input_with_string_keys_and_nulls(session, results):
    mv = Registry(session).log_model(
        Forecaster(custom_model.ModelContext()),
        model_name="forecaster",
        sample_input_data=pd.DataFrame({"store": ["a", "b"], "x": [1.0, 2.0]}),
        options=TABLE,
    )
    session.create_table(
        "sales",
        pa.table(
            {
                "store": pa.array(["b", None, "a", "b", None, "a", "c"], pa.string()),
                "x": pa.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
            }
        ),
    )
    job = mv.run_batch(
        session.sql("SELECT store, x FROM sales"),
        input_spec=InputSpec(partition_column="store", params={"horizon": 1}),
        output_spec=OutputSpec(stage_location=f"{results}/sql/"),
        job_spec=JobSpec(num_workers=1, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = read(session, f"{results}/sql/").sort_values("store", na_position="last")
    assert out["store"].fillna("NULL").tolist() == ["a", "b", "c", "NULL"]
    assert out["rows_seen"].tolist() == [2, 2, 1, 2]  # the nulls make one partition
    assert out["forecast"].tolist() == [5.5, 3.5, 8.0, 4.5]


def test_skewed_input_finishes(session, results):
    mv = log(session, BatchRecorder(custom_model.ModelContext()), "recorder", options=TABLE)
    sizes = {0: 45_000} | {s: 250 for s in range(1, 21)}  # one store holds 90% of the rows
    data = stores(sizes)
    job = mv.run_batch(
        data,
        input_spec=InputSpec(partition_column="store"),
        output_spec=OutputSpec(stage_location=f"{results}/skew/"),
        job_spec=JobSpec(num_workers=2, shard_rows=1000, max_batch_rows=4096),
    )
    assert job.wait(timeout=300) == "DONE", job.get_logs()
    out = read(session, f"{results}/skew/")
    assert len(out) == 50_000
    assert set(out["batch_keys"]) == {1}
    assert out.groupby("batch_id")["store"].nunique().max() == 1
    # the big store is the first shard, whole; the small ones share shards of ~1000 rows
    assert shard_rows_of(session, job) == [45_000] + [1000] * 5
    assert job.progress.rows_done == 50_000

    fc = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    job = fc.run_batch(
        data,
        input_spec=InputSpec(partition_column="store", params={"horizon": 1}),
        output_spec=OutputSpec(stage_location=f"{results}/skew-fc/"),
        job_spec=JobSpec(num_workers=2, shard_rows=1000),
    )
    assert job.wait(timeout=300) == "DONE", job.get_logs()
    out = read(session, f"{results}/skew-fc/").set_index("store")
    assert out["rows_seen"].to_dict() == sizes


def _nothing_written(session: squall.Session) -> None:
    assert squall.jobs.list_jobs(session=session).empty
    assert list((session.home / "jobs").iterdir()) == []
    assert session.list_stage("@results/") == []


def test_misuse_of_partitioning_fails_fast_and_writes_nothing(session, results):
    out = OutputSpec(stage_location=f"{results}/x/")
    plain = Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(3)
    )
    with pytest.raises(InvalidSpecError) as err:
        plain.run_batch(frame(6), input_spec=InputSpec(partition_column="id"), output_spec=out)
    assert str(err.value) == (
        "partition_column='id' cannot be used with function 'predict': its model was logged "
        "as a plain function; partitioned runs need the model logged with "
        "options={'function_type': 'TABLE_FUNCTION'}"
    )

    fc = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    with pytest.raises(InvalidSpecError, match=r"partition_column 'shop' is not a column of X"):
        fc.run_batch(stores({1: 2}), input_spec=InputSpec(partition_column="shop"), output_spec=out)
    with pytest.raises(InvalidSpecError, match=r"'store' has type list<item: int64>"):
        fc.run_batch(
            pa.table({"id": [1, 2], "store": [[1], [2]], "x": [1.0, 2.0]}),
            input_spec=InputSpec(partition_column="store"),
            output_spec=out,
        )
    with pytest.raises(
        InvalidSpecError, match=r"on_error='continue' does not apply to partitioned"
    ):
        fc.run_batch(stores({1: 2}), output_spec=out, job_spec=JobSpec(on_error="continue"))
    with pytest.raises(InvalidSpecError, match=r"unknown param\(s\) horizn"):
        fc.run_batch(
            stores({1: 2}),
            input_spec=InputSpec(partition_column="store", params={"horizn": 2}),
            output_spec=out,
        )

    clash = log(session, OutputsStore(custom_model.ModelContext()), "clash", options=TABLE)
    with pytest.raises(InvalidSpecError) as err:
        clash.run_batch(
            stores({1: 2}), input_spec=InputSpec(partition_column="store"), output_spec=out
        )
    assert str(err.value) == (
        "partitioned function 'forecast' outputs a column 'STORE', which is also the partition "
        "column 'store': its output is the partition column plus the function's outputs; "
        "rename that output"
    )
    _nothing_written(session)


def test_partitioned_methods_need_a_table_function_model(session):
    reg = Registry(session)
    with pytest.raises(
        InvalidSpecError, match=r"forecast are partitioned_api methods.*TABLE_FUNCTION"
    ):
        reg.log_model(
            Forecaster(custom_model.ModelContext()),
            model_name="fc",
            sample_input_data=stores({1: 3}),
        )
    assert reg.show_models().empty


def test_run_in_process_sees_the_whole_input_as_one_partition(session):
    mv = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    out = mv.run(stores({1: 4, 2: 6}), params={"Horizon": 2})
    assert out["rows_seen"].tolist() == [10, 10]
    assert out["step"].tolist() == [1, 2]


def test_run_in_process_with_a_partition_column(session):
    fc = log(session, Forecaster(custom_model.ModelContext()), "forecaster", options=TABLE)
    data = stores({4: 3, 2: 5})
    out = fc.run(data, partition_column="STORE", params={"horizon": 2})
    assert list(out.columns) == [
        "store",
        "step",
        "forecast",
        "rows_seen",
        "keys_seen",
        "first_x",
        "pid",
    ]
    assert out["store"].tolist() == [2, 2, 4, 4]
    assert out["rows_seen"].tolist() == [5, 5, 3, 3]

    rec = log(session, BatchRecorder(custom_model.ModelContext()), "recorder", options=TABLE)
    out = rec.run(data, partition_column="store")
    assert out["y"].tolist() == (data["x"] + 1).tolist()  # input row order
    assert set(out["batch_keys"]) == {1}

    plain = Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(3)
    )
    with pytest.raises(InvalidSpecError, match="TABLE_FUNCTION"):
        plain.run(frame(3), partition_column="id")
