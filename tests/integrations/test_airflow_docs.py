"""docs/airflow.md: its workspace set-up, two-task DAG and sensor run as written."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.integrations.conftest import AirflowEnv

DOC = Path(__file__).resolve().parents[2] / "docs" / "airflow.md"


def test_airflow_guide_dag_runs(airflow_env: AirflowEnv, tmp_path: Path) -> None:
    setup, dag, sensor = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    home = tmp_path / "ws"
    (tmp_path / "setup.py").write_text(setup)
    airflow_env.run("setup.py", cwd=tmp_path, extra_env={"SQUALL_HOME": str(home)})

    dag_file = airflow_env.dags / "churn_nightly.py"
    dag_file.write_text(dag)
    connection = json.dumps({"conn_type": "squall", "extra": {"home": str(home)}})
    out = airflow_env.run(
        str(dag_file),
        cwd=tmp_path,
        # The connection alone names the workspace: squall's default would be elsewhere.
        extra_env={
            "AIRFLOW_CONN_SQUALL_DEFAULT": connection,
            "SQUALL_HOME": str(tmp_path / "elsewhere"),
        },
    )
    assert re.search(r"CHURN_[0-9A-F]{32}: 2 of 3 likely to churn", out), out[-3000:]
    shown = re.search(r"prints\n`(.*?)`", DOC.read_text())
    assert shown is not None and shown.group(1) == "CHURN_<UUID>: 2 of 3 likely to churn"

    (tmp_path / "sensor.py").write_text(sensor)
    airflow_env.run("sensor.py", cwd=tmp_path)
