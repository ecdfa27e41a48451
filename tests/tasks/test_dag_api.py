"""Declaring and deploying DAGs: the graph, its checks, and what deploy refuses."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

import pytest

import squall
from squall.batch import BatchInferenceTask as FromBatch
from squall.batch import JobSpec, OutputSpec
from squall.errors import AlreadyExistsError, DAGNotFoundError, InvalidArgumentError
from squall.tasks import (
    DAG,
    BatchInferenceTask,
    CreateMode,
    Cron,
    DAGOperation,
    DAGTask,
    TaskContext,
)
from squall.tasks.schedule import next_tick
from tests.tasks.conftest import model_version


def noop(session: squall.Session) -> None:
    return None


def test_edges_lists_and_context_manager() -> None:
    with DAG("g") as dag:
        a = DAGTask("a", "SELECT 1")
        b = DAGTask("b", noop)
        c = DAGTask("c", "SELECT 2")
        d = DAGTask("d", "SELECT 3")
    a >> [b, c]
    [b, c] >> d
    assert d.predecessors == {b, c}
    assert b.predecessors == {a}
    e = DAGTask("e", "SELECT 4")  # outside the block: joins the DAG through its edge
    e << d
    assert e.dag is dag and e in dag and "E" in dag
    assert [t.name for t in dag.tasks] == ["a", "b", "c", "d", "e"]
    assert dag.get_task("B") is b and b.full_name == "g$b"


def test_bad_names_and_definitions_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="'bad name'"):
        DAG("bad name")
    with pytest.raises(InvalidArgumentError, match="definition"):
        DAGTask("t", 42)  # type: ignore[arg-type]
    with DAG("g"):
        DAGTask("t", "SELECT 1")
        with pytest.raises(InvalidArgumentError, match="already has a task named 'T'"):
            DAGTask("T", "SELECT 1")


def test_batch_inference_task_refuses_a_definition(ws: squall.Session) -> None:
    assert FromBatch is BatchInferenceTask
    with DAG("g"), pytest.raises(TypeError, match="definition"):
        BatchInferenceTask(
            "infer",
            model_version=model_version(ws),
            X=ws.table("numbers"),
            output_spec=OutputSpec(base_stage_location="@results/x/"),
            definition="SELECT 1",
        )
    with DAG("g"), pytest.raises(InvalidArgumentError, match="query"):
        BatchInferenceTask(
            "infer",
            model_version=model_version(ws),
            X=ws.table("numbers").to_pandas(),
            output_spec=OutputSpec(base_stage_location="@results/x/"),
        )
    with DAG("g"), pytest.raises(ValueError, match="'nope'"):
        BatchInferenceTask(
            "infer",
            model_version=model_version(ws),
            X=ws.table("numbers"),
            output_spec=OutputSpec(base_stage_location="@results/x/"),
            job_spec=JobSpec(function_name="nope"),
        )


def test_deploy_refuses_cycles_finalizers_schedules_and_sql(ws: squall.Session) -> None:
    op = DAGOperation(ws)
    with DAG("cyc") as dag:
        a, b, c = DAGTask("a", "SELECT 1"), DAGTask("b", "SELECT 1"), DAGTask("c", "SELECT 1")
        a >> b >> c >> a
    with pytest.raises(InvalidArgumentError, match="has a cycle: a -> b -> c -> a"):
        op.deploy(dag)
    with DAG("fin") as dag:
        a = DAGTask("a", "SELECT 1")
        f = DAGTask("f", "SELECT 1", is_finalizer=True)
        a >> f
    with pytest.raises(InvalidArgumentError, match="finalizer task 'f'"):
        op.deploy(dag)
    for schedule, match in (
        (Cron("not a cron", "UTC"), "five fields"),
        (Cron("61 * * * *", "UTC"), "cannot be parsed"),
        (Cron("0 2 * * *", "Mars/Olympus"), "Mars/Olympus"),
        (dt.timedelta(seconds=90), "whole number of minutes"),
        (dt.timedelta(days=9), "8 days"),
        ("0 2 * * *", "Cron or a timedelta"),
    ):
        with DAG("sched", schedule=schedule) as dag:  # type: ignore[arg-type]
            DAGTask("a", "SELECT 1")
        with pytest.raises(InvalidArgumentError, match=match):
            op.deploy(dag)
    with DAG("sql") as dag:
        DAGTask("a", "SELEKT nonsense FROM")
    with pytest.raises(InvalidArgumentError, match="task 'a': cannot parse SQL"):
        op.deploy(dag)
    assert list(op.iter_dags()) == []


def test_deploy_modes_describe_and_drop(ws: squall.Session) -> None:
    op = DAGOperation(ws)
    with DAG("Nightly", schedule=dt.timedelta(minutes=5), config={"k": 1}) as dag:
        a = DAGTask("a", "SELECT 1")
        a >> DAGTask("b", noop)
    op.deploy(dag)
    with pytest.raises(AlreadyExistsError, match="or_replace"):
        op.deploy(dag)
    op.deploy(dag, mode=CreateMode.if_not_exists)
    op.deploy(dag, mode=CreateMode.or_replace)
    info = op.describe("nightly")
    assert info["name"] == "Nightly" and info["schedule"] == "5 MINUTE"
    assert info["graph_version"] == 2 and info["config"] == {"k": 1}
    assert [(t["name"], t["predecessors"]) for t in info["graph"]] == [("a", []), ("b", ["a"])]
    assert info["graph"][1]["definition"].endswith("noop")
    assert list(op.iter_dags(like="night%")) == ["Nightly"]
    (tick,) = op.get_current_dag_runs(dag)
    assert tick.run_id is None and tick.state == "SCHEDULED" and tick.scheduled_time
    op.drop(dag)
    with pytest.raises(DAGNotFoundError, match="'nightly'"):
        op.run("nightly")


def test_deploy_refuses_an_unknown_model_version(ws: squall.Session) -> None:
    from squall.registry import Registry

    op = DAGOperation(ws)
    with DAG("d") as dag:
        BatchInferenceTask(
            "infer",
            model_version=model_version(ws, "failing"),
            X=ws.sql("SELECT * FROM numbers"),
            output_spec=OutputSpec(base_stage_location="@results/x/"),
        )
    Registry(ws).delete_model("failing")
    with pytest.raises(LookupError, match="FAILING"):
        op.deploy(dag)


def test_task_context_outside_a_task_is_refused(ws: squall.Session) -> None:
    with pytest.raises(squall.SquallError, match="only available inside a DAG task"):
        TaskContext(ws)


def test_schedule_ticks() -> None:
    day = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC).timestamp()
    # Interval ticks are anchored at deploy time.
    assert next_tick(dt.timedelta(minutes=1), day + 5, day) == day + 60
    assert next_tick(dt.timedelta(minutes=1), day + 60, day) == day + 120
    # Cron ticks follow the time zone: 02:00 in Berlin is 01:00 UTC in winter.
    berlin = Cron("0 2 * * *", "Europe/Berlin")
    first = next_tick(berlin, day, day)
    assert dt.datetime.fromtimestamp(first, dt.UTC) == dt.datetime(2026, 1, 11, 1, tzinfo=dt.UTC)
    assert next_tick(berlin, first, day) - first == 24 * 3600
    assert json.loads(json.dumps({"x": str(berlin)}))["x"] == "USING CRON 0 2 * * * Europe/Berlin"


def test_a_catalog_at_version_1_gains_the_dag_tables(tmp_path: Path) -> None:
    from squall.catalog import Catalog

    path = tmp_path / "catalog.db"
    Catalog(path)
    con = sqlite3.connect(path)
    con.executescript("DROP TABLE dag_task_runs; DROP TABLE dag_runs; DROP TABLE dags;")
    con.execute("PRAGMA user_version = 1")
    con.close()
    session = squall.connect(tmp_path)
    with DAG("after_upgrade") as dag:
        DAGTask("a", "SELECT 1")
    op = DAGOperation(session)
    op.deploy(dag)
    assert op.wait(op.run(dag), timeout=120).state == "SUCCEEDED"


def test_the_public_names() -> None:
    import squall.tasks

    assert sorted(squall.tasks.__all__) == sorted(
        ["DAG", "DAGTask", "DAGOperation", "DAGRun", "Cron", "TaskContext", "CreateMode",
         "BatchInferenceTask"]
    )  # fmt: skip
    for name in squall.tasks.__all__:
        assert getattr(squall.tasks, name).__name__ == name


def test_dagv1_names_the_same_classes() -> None:
    import squall.tasks
    from squall.tasks import dagv1

    for name in dagv1.__all__:
        assert getattr(dagv1, name) is getattr(squall.tasks, name)
