"""The Airflow operator, trigger and sensor, run by real Airflow with ``dag.test()``.

One subprocess runs every scenario DAG of ``airflow_scenarios.py`` (Airflow's start-up is
paid once); each test checks one scenario's recorded outcome.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import squall
from tests.integrations.conftest import AirflowEnv

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def outcomes(airflow_env: AirflowEnv, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("airflow_scenarios")
    home = work / "ws"
    airflow_env.run(str(HERE / "airflow_workspace.py"), str(home), cwd=work)
    dag_file = airflow_env.dags / "airflow_scenarios.py"
    shutil.copy(HERE / "airflow_scenarios.py", dag_file)
    results = work / "results.json"
    airflow_env.run(str(dag_file), str(home), str(results), cwd=work)
    out: dict[str, Any] = json.loads(results.read_text())
    out["home"] = str(home)
    return out


@pytest.mark.parametrize("dag_id", ["squall_polling", "squall_deferred"])
def test_downstream_task_reads_the_xcom_and_the_output(
    outcomes: dict[str, Any], dag_id: str
) -> None:
    run = outcomes[dag_id]
    assert run["state"] == "success"
    result = run["result"]
    assert result["status"] == "DONE"
    assert result["job_name"].startswith("AIRFLOW_")
    assert run["job_name_xcom"] == result["job_name"]
    assert result["output_stage_location"] == f"@results/{dag_id}/{result['job_name']}/"
    # '{{ ds }}' rendered to 2024-05-01 keeps two of the three rows; threshold=2.0 reached
    # the model, and the DAG's own params did not.
    assert run["rows"] == [2.0, 4.0]
    job = squall.jobs.get_job(result["job_name"], session=squall.Session(outcomes["home"]))
    assert job.status == "DONE"


def test_failing_model_fails_the_task_with_the_jobs_message(outcomes: dict[str, Any]) -> None:
    run = outcomes["squall_failing"]
    assert run["state"] == "failed"
    assert "ended FAILED" in run["error"]
    assert "the model refuses x above 1.5" in run["error"]
    assert "log lines of the job" in run["error"]


@pytest.mark.parametrize("dag_id", ["squall_sensor_poking", "squall_sensor_deferred"])
def test_sensor_waits_for_a_job_started_elsewhere(outcomes: dict[str, Any], dag_id: str) -> None:
    assert outcomes[dag_id]["state"] == "success"
    job = squall.jobs.get_job(outcomes["sensed_job"], session=squall.Session(outcomes["home"]))
    assert job.status == "DONE"


def test_airflow_knows_the_squall_connection_type(outcomes: dict[str, Any]) -> None:
    assert outcomes["connection_type_hook"] == "squall.integrations.airflow.hooks.SquallHook"


def test_an_operator_without_input_is_refused_when_the_dag_loads(
    outcomes: dict[str, Any],
) -> None:
    assert "give exactly one input: sql=, table= or files=" in outcomes["misuse"]


@pytest.mark.parametrize("how", ["operator", "trigger"])
def test_killing_the_task_cancels_the_job(outcomes: dict[str, Any], how: str) -> None:
    assert outcomes[f"killed_by_{how}"] == "CANCELLED"
