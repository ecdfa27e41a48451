"""What holds without Airflow running: import boundaries, the missing extra, misuse refused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from squall.errors import InvalidArgumentError, InvalidSpecError
from squall.integrations.airflow._jobs import BatchRequest


def _python(code: str) -> str:
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_only_the_airflow_classes_import_airflow() -> None:
    code = (
        "import sys, squall, squall.integrations.airflow, squall.integrations.airflow.provider\n"
        "info = squall.integrations.airflow.provider.get_provider_info()\n"
        "print('airflow' in sys.modules, info['connection-types'][0]['connection-type'])"
    )
    assert _python(code) == "False squall"


def test_without_airflow_the_error_names_the_extra() -> None:
    code = (
        "import sys\n"
        "sys.modules['airflow'] = None  # what Python does for a package that is not there\n"
        "from squall.errors import MissingExtraError\n"
        "try:\n"
        "    from squall.integrations.airflow import SquallRunBatchOperator\n"
        "except MissingExtraError as exc:\n"
        "    print(exc)\n"
    )
    out = _python(code)
    assert "pip install 'squall[airflow]'" in out
    assert "SquallRunBatchOperator" in out


def test_public_names() -> None:
    import squall.integrations.airflow as integration

    assert sorted(integration.__all__) == [
        "SquallHook",
        "SquallJobSensor",
        "SquallJobTrigger",
        "SquallRunBatchOperator",
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({}, InvalidArgumentError, "none"),
        ({"sql": "SELECT 1", "table": "t"}, InvalidArgumentError, "'sql', 'table'"),
        ({"sql": "SELECT 1", "stage_location": "@r/a/"}, InvalidSpecError, "@r/a/"),
        ({"sql": "SELECT 1", "mode": "append"}, InvalidSpecError, "'append'"),
        ({"sql": "SELECT 1", "job_spec": {"workers": 2}}, InvalidSpecError, "['workers']"),
        ({"sql": "SELECT 1", "job_spec": {"num_workers": 0}}, InvalidSpecError, "0"),
    ],
)
def test_misuse_is_refused_before_anything_runs(
    kwargs: dict[str, object], error: type[Exception], names: str
) -> None:
    request = BatchRequest(model_name="churn", **{"base_stage_location": "@r/", **kwargs})  # type: ignore[arg-type]
    with pytest.raises(error) as exc:
        request.check()
    assert names in str(exc.value)
