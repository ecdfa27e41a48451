"""Batch jobs reading files and tables from an S3 stage (a moto server on 127.0.0.1)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall
from squall import jobs
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.cli import main as cli
from squall.errors import InvalidSpecError
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, frame
from tests.s3_server import S3Server

IMAGE_HANDLING = {"IMAGE": {"input_format": "full_stage_path", "convert_to": "base64"}}


class FileDigest(custom_model.CustomModel):
    """The size and SHA-256 of each file it is given (base64 encoded)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        data = [base64.b64decode(v) for v in X["IMAGE"]]
        return pd.DataFrame(
            {
                "size": [len(d) for d in data],
                "sha256": [hashlib.sha256(d).hexdigest() for d in data],
            }
        )


@pytest.fixture
def credentials() -> dict[str, str]:
    """Credentials no test server needs, so any trace of them was copied by squall."""
    return {
        "key": "AKIASQUALL" + uuid.uuid4().hex[:10].upper(),
        "secret": "sq-secret-" + uuid.uuid4().hex,
    }


@pytest.fixture
def landing(session: squall.Session, s3: S3Server, credentials: dict[str, str]) -> str:
    session.create_stage(
        "landing",
        url="s3://squall-test/landing",
        storage_options=s3.storage_options(**credentials),
        encryption="AWS_SSE_S3",
    )
    session.create_stage("images")
    session.create_stage("results")
    return "@landing"


@pytest.fixture
def digest(session: squall.Session):
    sample = pd.DataFrame({"id": [0], "IMAGE": [base64.b64encode(b"x").decode()]})
    return Registry(session).log_model(
        FileDigest(custom_model.ModelContext()), model_name="digest", sample_input_data=sample
    )


def _images(folder: Path, n: int) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    files = {
        f"img{i:02d}.png": b"\x89PNG" + rng.bytes(int(rng.integers(10, 5000))) for i in range(n)
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return files


def _output(session: squall.Session, location: str) -> pd.DataFrame:
    return session.read.parquet(location).to_pandas().sort_values("id").reset_index(drop=True)


def test_files_mixed_from_s3_and_internal_stages_give_the_same_output(
    session: squall.Session, s3: S3Server, landing: str, digest, tmp_path: Path
) -> None:
    files = _images(tmp_path / "imgs", 12)
    session.put(str(tmp_path / "imgs" / "*.png"), "@landing/imgs/")
    session.put(str(tmp_path / "imgs" / "*.png"), "@images/imgs/")
    for key in (f"landing/imgs/{name}" for name in files):  # as stored on the server
        head = s3.client().head_object(Bucket="squall-test", Key=key)
        assert head["ServerSideEncryption"] == "AES256"
    names = sorted(files)
    internal = pd.DataFrame(
        {"id": range(len(names)), "IMAGE": [f"@images/imgs/{n}" for n in names]}
    )
    mixed = internal.copy()
    mixed.loc[::2, "IMAGE"] = [f"@landing/imgs/{n}" for n in names[::2]]
    assert mixed["IMAGE"].str.startswith("@landing/").sum() == 6

    for X, where in ((internal, "internal"), (mixed, "mixed")):
        job = digest.run_batch(
            X,
            input_spec=InputSpec(column_handling=IMAGE_HANDLING),
            output_spec=OutputSpec(stage_location=f"@results/{where}/"),
            job_spec=JobSpec(num_workers=2, max_batch_rows=4, block=True),
        )
        assert job.status == "DONE", job.get_logs()
    a, b = _output(session, "@results/internal/"), _output(session, "@results/mixed/")
    assert b["IMAGE"].tolist() == mixed["IMAGE"].tolist()  # the paths pass through
    pd.testing.assert_frame_equal(a.drop(columns="IMAGE"), b.drop(columns="IMAGE"))
    assert b["sha256"].tolist() == [hashlib.sha256(files[n]).hexdigest() for n in names]
    assert b["size"].tolist() == [len(files[n]) for n in names]


def test_tables_on_s3_feed_the_warehouse_and_run_batch(
    session: squall.Session, landing: str, tmp_path: Path
) -> None:
    data = frame(3000)
    for i, part in enumerate(data.iloc[k : k + 1000] for k in range(0, 3000, 1000)):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), tmp_path / f"p{i}.parquet")
    session.put(str(tmp_path / "*.parquet"), "@landing/tables/points/")
    session.stages.stage("landing").write_bytes("tables/points/_SUCCESS", b"")
    assert session.read.parquet("@landing/tables/points/").count() == 3000
    session.create_table("points", "@landing/tables/points/*.parquet")
    assert session.sql("SELECT sum(x) AS s FROM points").to_pandas()["s"][0] == data["x"].sum()
    mv = Registry(session).log_model(
        Doubler(custom_model.ModelContext()), model_name="doubler", sample_input_data=frame(5)
    )
    job = mv.run_batch(
        session.table("points"),
        output_spec=OutputSpec(stage_location="@results/points/"),
        job_spec=JobSpec(num_workers=2, block=True),
    )
    assert job.status == "DONE", job.get_logs()
    out = _output(session, "@results/points/")
    assert out["doubled"].tolist() == (data["x"] * 2).tolist()


def test_output_on_an_s3_stage_is_refused_before_any_work(
    session: squall.Session, s3: S3Server, landing: str, digest
) -> None:
    X = pd.DataFrame({"id": [0], "IMAGE": ["@images/none.png"]})
    for spec in (
        OutputSpec(stage_location="@landing/out/"),
        OutputSpec(base_stage_location="@landing/nightly/"),
    ):
        with pytest.raises(InvalidSpecError) as info:
            digest.run_batch(
                X, input_spec=InputSpec(column_handling=IMAGE_HANDLING), output_spec=spec
            )
        message = str(info.value)
        assert "is on external stage @landing (s3://squall-test/landing)" in message
        assert "job output must go to an internal stage" in message
    assert len(jobs.list_jobs(limit=0)) == 0
    assert s3.client().list_objects_v2(Bucket="squall-test").get("KeyCount") == 0


def test_no_secret_in_any_output_log_or_record(
    session: squall.Session,
    home: Path,
    landing: str,
    digest,
    credentials: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = _images(tmp_path / "imgs", 3)
    session.put(str(tmp_path / "imgs"), "@landing/imgs/")
    X = pd.DataFrame(
        {
            "id": [0, 1, 2, 3],
            "IMAGE": [f"@landing/imgs/{n}" for n in files] + ["@landing/imgs/missing.png"],
        }
    )
    job = digest.run_batch(
        X,
        input_spec=InputSpec(column_handling=IMAGE_HANDLING),
        output_spec=OutputSpec(stage_location="@results/digest/"),
        job_spec=JobSpec(num_workers=1, block=False),
    )
    assert job.wait(timeout=120) == "FAILED"  # the missing file fails the job ...
    logs = job.get_logs()
    assert "@landing/imgs/missing.png" in logs  # ... and the logs name it
    with pytest.raises(FileNotFoundError) as missing:
        session.get("@landing/imgs/missing.png", tmp_path / "out")

    # The CLI: listings, a failing command, and a stage created from the command line.
    cli_args = [
        ["stage", "ls"],
        ["stage", "ls", "--json"],
        ["stage", "ls", "@landing/imgs/"],
        ["stage", "get", "@landing/imgs/missing.png", str(tmp_path / "cli")],
        [
            "stage",
            "create",
            "cli_s3",
            "--url",
            "s3://squall-test/cli",
            "--option",
            f"endpoint_url={session.stages.info('landing').storage_options['endpoint_url']}",
            "--option",
            f"key={credentials['key']}",
            "--option",
            f"secret={credentials['secret']}",
            "--option",
            'client_kwargs={"region_name": "us-east-1"}',
        ],
        ["stage", "put", str(tmp_path / "imgs"), "@cli_s3/x/"],
        ["jobs", "ls"],
        ["jobs", "show", job.name, "--json"],
        ["jobs", "logs", job.name],
    ]
    codes = [cli(["--home", str(home), *args]) for args in cli_args]
    assert codes == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    printed = capsys.readouterr()
    cli_text = printed.out + printed.err
    assert "key=****" in cli_text and "secret=****" in cli_text  # shown, masked
    assert "uploaded @cli_s3/x/img00.png" in cli_text

    texts = {
        "cli": cli_text,
        "logs": logs,
        "errors": f"{missing.value} {missing.value!r}",
        "reprs": repr(session.stages.stage("landing"))
        + repr(session.stages.info("landing"))
        + repr(session.list_stages()),
        "jobs": jobs.list_jobs(limit=0).to_string() + repr(job) + str(job.progress),
    }
    with sqlite3.connect(home / "catalog.db") as con:
        texts["catalog dump"] = "\n".join(con.iterdump())
    secret_files = {session.stages.secrets.path("landing"), session.stages.secrets.path("cli_s3")}
    for root, _dirs, names in os.walk(home):
        for name in names:
            path = Path(root) / name
            if path not in secret_files:
                texts[str(path)] = path.read_bytes().decode("latin-1")
    assert str(home / "catalog.db") in texts and any(p.endswith(".log") for p in texts), (
        texts.keys()
    )
    for value in credentials.values():
        leaked = [where for where, text in texts.items() if value in text]
        assert leaked == [], f"{value[:6]}... found in {leaked}"
    for path in secret_files:  # the only place the credentials are, readable by the owner only
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert json.loads(path.read_text()) == credentials
