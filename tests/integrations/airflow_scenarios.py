"""DAGs the Airflow tests run with ``dag.test()``; run as a script, it runs them all.

It lives in Airflow's dags folder while the tests run (``dag.test()`` parses the DAG from
there). Run as ``python airflow_scenarios.py <workspace> <results.json>``: the workspace
already holds the table ``customers`` and the models ``churn`` and ``broken``; each
scenario's outcome goes to the results file.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from squall.integrations.airflow import SquallJobSensor, SquallJobTrigger, SquallRunBatchOperator

HOME = sys.argv[1] if len(sys.argv) > 2 else "/nonexistent"
RESULTS: dict[str, Any] = {}
START = datetime(2024, 5, 1, tzinfo=UTC)


def _record_failure(context: Any) -> None:
    RESULTS.setdefault(context["dag"].dag_id, {})["error"] = str(context["exception"])


def _scoring_dag(dag_id: str, deferrable: bool) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, params={"unused": 1}) as dag:
        score = SquallRunBatchOperator(
            task_id="score",
            squall_home=HOME,
            model_name="churn",
            sql="SELECT * FROM customers WHERE day = '{{ ds }}'",
            base_stage_location="@results/" + dag_id + "/",
            params={"threshold": 2.0},
            job_spec={"job_name_prefix": "AIRFLOW"},
            poll_interval=0.2,
            deferrable=deferrable,
        )

        @task
        def read(result: dict[str, Any], **context: Any) -> None:
            import squall

            session = squall.Session(HOME)
            out = session.read.parquet(result["output_stage_location"]).to_pandas()
            RESULTS[dag_id] = {
                "result": result,
                "job_name_xcom": context["ti"].xcom_pull(task_ids="score", key="job_name"),
                "rows": sorted(out["score"].tolist()),
            }

        read(score.output)
    return dag


polling = _scoring_dag("squall_polling", deferrable=False)
deferred = _scoring_dag("squall_deferred", deferrable=True)

with DAG("squall_failing", schedule=None, start_date=START) as failing:
    SquallRunBatchOperator(
        task_id="score",
        squall_home=HOME,
        model_name="broken",
        table="customers",
        base_stage_location="@results/failing/",
        poll_interval=0.2,
        deferrable=True,
        on_failure_callback=_record_failure,
    )


sensors = []
for _deferrable in (False, True):
    with DAG(
        f"squall_sensor_{'deferred' if _deferrable else 'poking'}",
        schedule=None,
        start_date=START,
    ) as _dag:
        SquallJobSensor(
            task_id="wait",
            squall_home=HOME,
            job_name="{{ dag_run.conf['job_name'] }}",
            poke_interval=0.2,
            deferrable=_deferrable,
            on_failure_callback=_record_failure,
        )
    sensors.append(_dag)


def main() -> None:
    import squall
    from squall.batch import OutputSpec
    from squall.registry import Registry

    results_file = Path(sys.argv[2])
    for dag in (polling, deferred, failing):
        run = dag.test(logical_date=START)
        RESULTS.setdefault(dag.dag_id, {})["state"] = str(run.state)
    # The sensors wait for a job started outside Airflow.
    session = squall.Session(HOME)
    job = (
        Registry(session)
        .get_model("churn")
        .default.run_batch(
            session.table("customers"),
            output_spec=OutputSpec(base_stage_location="@results/sensed/"),
        )
    )
    for dag in sensors:
        run = dag.test(logical_date=START, run_conf={"job_name": job.name})
        RESULTS.setdefault(dag.dag_id, {})["state"] = str(run.state)
    RESULTS["sensed_job"] = job.name
    # Airflow calls on_kill on the operator, or on the trigger of a deferred task, when a
    # user kills the task: either cancels the job.
    for how in ("operator", "trigger"):
        slow = (
            Registry(session)
            .get_model("slow")
            .default.run_batch(
                session.table("customers"),
                output_spec=OutputSpec(base_stage_location=f"@results/killed_{how}/"),
            )
        )
        if how == "operator":
            op = SquallRunBatchOperator(
                task_id="killed",
                squall_home=HOME,
                model_name="slow",
                table="customers",
                base_stage_location="@results/killed/",
            )
            op.job_name = slow.name  # what execute() records once it has submitted
            op.on_kill()
        else:
            asyncio.run(SquallJobTrigger(slow.name, HOME).on_kill())
        RESULTS[f"killed_by_{how}"] = slow.wait(timeout=100)
    try:
        SquallRunBatchOperator(task_id="misused", model_name="churn", base_stage_location="@r/")
    except ValueError as exc:
        RESULTS["misuse"] = str(exc)
    from airflow.providers_manager import ProvidersManager

    hook = ProvidersManager().hooks.get("squall")
    RESULTS["connection_type_hook"] = hook.hook_class_name if hook else None
    results_file.write_text(json.dumps(RESULTS, default=str))


if __name__ == "__main__":
    main()
