"""What Airflow's providers manager reads: the ``squall`` connection type and its hook.

Airflow calls ``get_provider_info`` while it starts, so this module imports nothing of
Airflow's.
"""

from __future__ import annotations

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, object]:
    return {
        "package-name": "squall",
        "name": "squall",
        "description": "Batch inference jobs of a squall workspace.",
        "connection-types": [
            {
                "connection-type": "squall",
                "hook-class-name": "squall.integrations.airflow.hooks.SquallHook",
            }
        ],
    }
