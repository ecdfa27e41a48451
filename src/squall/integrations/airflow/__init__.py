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

The classes load on first use: Airflow's providers manager reads ``provider.py`` while
Airflow itself is still starting, before its operator classes can be imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from squall.errors import MissingExtraError

if TYPE_CHECKING:
    from squall.integrations.airflow.hooks import SquallHook
    from squall.integrations.airflow.operators import SquallRunBatchOperator
    from squall.integrations.airflow.sensors import SquallJobSensor
    from squall.integrations.airflow.triggers import SquallJobTrigger

__all__ = ["SquallHook", "SquallJobSensor", "SquallJobTrigger", "SquallRunBatchOperator"]

_LAZY = {
    "SquallHook": "hooks",
    "SquallJobSensor": "sensors",
    "SquallJobTrigger": "triggers",
    "SquallRunBatchOperator": "operators",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{_LAZY[name]}")
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "airflow":
            raise
        raise MissingExtraError("apache-airflow", "airflow", f"{__name__}.{name}") from exc
    value = getattr(module, name)
    globals()[name] = value
    return value
