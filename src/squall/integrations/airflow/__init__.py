"""Batch inference as a step of an Apache Airflow DAG (``pip install 'squall[airflow]'``).

::

    from squall.integrations.airflow import SquallRunBatchOperator

    score = SquallRunBatchOperator(
        task_id="score", squall_home="/data/squall", model_name="churn",
        sql="SELECT * FROM customers WHERE day = '{{ ds }}'",
        base_stage_location="@results/churn/",
    )

The operator submits a job and waits for it, polling or deferred to ``SquallJobTrigger``;
``SquallJobSensor`` waits for a job started elsewhere; ``SquallHook`` finds the workspace
from a ``squall`` connection. Airflow is imported here and nowhere else in squall.
"""

from __future__ import annotations

from squall.errors import MissingExtraError

try:
    import airflow.sdk  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised where Airflow is not installed
    if (exc.name or "").partition(".")[0] != "airflow":
        raise
    raise MissingExtraError("apache-airflow", "airflow", "squall.integrations.airflow") from exc

from squall.integrations.airflow.hooks import SquallHook
from squall.integrations.airflow.operators import SquallRunBatchOperator
from squall.integrations.airflow.sensors import SquallJobSensor
from squall.integrations.airflow.triggers import SquallJobTrigger

__all__ = [
    "SquallHook",
    "SquallJobSensor",
    "SquallJobTrigger",
    "SquallRunBatchOperator",
    "get_provider_info",
]


def get_provider_info() -> dict[str, object]:
    """What Airflow's providers manager reads: the ``squall`` connection type and its hook."""
    return {
        "package-name": "squall",
        "name": "squall",
        "description": "Batch inference jobs of a squall workspace.",
        "connection-types": [
            {
                "connection-type": SquallHook.conn_type,
                "hook-class-name": f"{SquallHook.__module__}.{SquallHook.__qualname__}",
            }
        ],
    }
