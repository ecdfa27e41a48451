"""S3 stages against a real S3-protocol server: encryption, refusals, errors, credentials.

What the server stored is read back through boto3 (``head_object``), not taken from squall.
The behaviour every stage kind shares is in test_stage_contract.py.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from squall.errors import InvalidArgumentError
from squall.stages import StageManager
from tests.s3_server import S3Server

BUCKET = "squall-test"


def _encryption_of(s3: S3Server, key: str) -> tuple[str | None, str | None]:
    head = s3.client().head_object(Bucket=BUCKET, Key=key)
    return head.get("ServerSideEncryption"), head.get("SSEKMSKeyId")


def _every_key(s3: S3Server, prefix: str) -> list[str]:
    listing = s3.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _write_every_way(stages: StageManager, tmp_path: Path) -> None:
    """Write objects through every path squall has: bytes, streams, uploads, commits."""
    stage = stages.stage("landing")
    stage.write_bytes("w/bytes.bin", b"payload")
    with stage.open("w/table.parquet", "wb") as f:
        pq.write_table(pa.table({"x": [1, 2, 3]}), f)
    local = tmp_path / "up"
    local.mkdir()
    for i in range(3):
        (local / f"img{i}.png").write_bytes(b"\x89PNG" + bytes([i]) * 100)
    stages.put(str(local / "*.png"), "@landing/w/images/")  # several files, in threads
    stages.put(str(local / "img0.png"), "@landing/w/renamed.png")
    stage.write_bytes("w/.part-0.tmp", b"part")
    stage.commit("w/.part-0.tmp", "w/part-0.parquet")  # a server-side copy
    stage.put_if_absent(local / "img1.png", "w/once.png")  # a conditional write
    stage.write_bytes("w/.part-1.tmp", b"part")
    stage.commit_part("w/.part-1.tmp", "w/part-1.parquet")
    (tmp_path / "big.bin").write_bytes(os.urandom(11 * 2**20))
    stages.put(str(tmp_path / "big.bin"), "@landing/w/big.bin")  # a multipart upload


@pytest.mark.parametrize("with_key", [True, False], ids=["kms-key", "kms-default-key"])
def test_sse_kms_on_every_object_written(
    stages: StageManager, s3: S3Server, tmp_path: Path, with_key: bool
) -> None:
    key_arn = s3.client("kms").create_key()["KeyMetadata"]["Arn"] if with_key else None
    info = stages.create(
        "landing",
        url=f"s3://{BUCKET}/kms",
        storage_options=s3.storage_options(default_block_size=5 * 2**20),
        encryption="AWS_SSE_KMS",
        kms_key_id=key_arn,
    )
    assert (info.encryption, info.kms_key_id) == ("AWS_SSE_KMS", key_arn)
    _write_every_way(stages, tmp_path)
    keys = _every_key(s3, "kms/")
    assert "kms/w/big.bin" in keys and "kms/w/part-1.parquet" in keys and len(keys) == 10
    for key in keys:
        algorithm, used_key = _encryption_of(s3, key)
        assert algorithm == "aws:kms", key
        if with_key:
            assert used_key == key_arn, key


def test_sse_s3_on_every_object_written(stages: StageManager, s3: S3Server, tmp_path: Path) -> None:
    stages.create(
        "landing",
        url=f"s3://{BUCKET}/sse",
        storage_options=s3.storage_options(default_block_size=5 * 2**20),
        encryption="AWS_SSE_S3",
    )
    _write_every_way(stages, tmp_path)
    keys = _every_key(s3, "sse/")
    assert len(keys) == 10
    assert {key: _encryption_of(s3, key) for key in keys} == {key: ("AES256", None) for key in keys}
    assert stages.stage("landing").read_bytes("w/big.bin") == (tmp_path / "big.bin").read_bytes()


def test_encryption_defaults_to_sse_s3_and_settings_are_normalised(
    stages: StageManager, s3: S3Server
) -> None:
    info = stages.create("plain", url=f"s3://{BUCKET}/a/b/", storage_options=s3.storage_options())
    assert (info.kind, info.url, info.encryption) == ("s3", f"s3://{BUCKET}/a/b", "AWS_SSE_S3")
    stages.stage("plain").write_bytes("x.txt", b"x")
    assert _encryption_of(s3, "a/b/x.txt") == ("AES256", None)
    info = stages.create(
        "lower",
        url=f"s3://{BUCKET}",
        storage_options=s3.storage_options(),
        encryption="aws_sse_kms",
    )
    assert stages.info("lower").encryption == info.encryption == "AWS_SSE_KMS"
    assert stages.stage("lower").url == f"s3://{BUCKET}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"url": "azure://account/container/path"}, r"Azure Blob Storage.*Amazon S3"),
        ({"url": "gcs://bucket/path"}, r"Google Cloud Storage.*Amazon S3"),
        ({"url": "gs://bucket/path"}, r"Google Cloud Storage.*Amazon S3"),
        ({"url": "hdfs://namenode/path"}, r"'hdfs://namenode/path' is not supported.*Amazon S3"),
        ({"url": "s3a://bucket/path"}, r"write the same location as s3://"),
        ({"encryption": "AWS_CSE"}, r"'AWS_CSE' is client-side encryption"),
        ({"encryption": "aws_cse", "kms_key_id": "k"}, r"'aws_cse' is client-side encryption"),
        ({"encryption": "AWS_SSE_C"}, r"unknown encryption 'AWS_SSE_C'.*'AWS_SSE_S3'"),
        ({"encryption": "NONE"}, r"unknown encryption 'NONE'.*server-side"),
        ({"encryption": 256}, r"encryption must be 'AWS_SSE_S3' or 'AWS_SSE_KMS', not 256"),
        ({"encryption": "AWS_SSE_S3", "kms_key_id": "k1"}, r"kms_key_id is only for"),
        ({"url": "s3://Not_A_Bucket/x"}, r"'Not_A_Bucket' is not an S3 bucket name"),
        ({"url": "s3:///x"}, r"'' is not an S3 bucket name"),
        ({"url": "s3://bucket/x?versionId=1"}, r"must be plain s3://bucket/prefix"),
        ({"url": "s3://bucket/../x"}, r"escapes"),
        (
            {"storage_options": {"s3_additional_kwargs": {"ServerSideEncryption": "AES256"}}},
            r"may not set ServerSideEncryption; choose the stage's encryption with encryption=",
        ),
    ],
)
def test_refused_at_create_stage(
    stages: StageManager, home: Path, kwargs: dict[str, Any], message: str
) -> None:
    settings: dict[str, Any] = {
        "url": "s3://bucket/prefix",
        "storage_options": {"key": "refused-key", "secret": "refused-secret"},
    }
    settings.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=message):
        stages.create("landing", **settings)
    assert stages.list() == []
    assert not stages.secrets.path("landing").exists()


def test_credentials_are_kept_owner_only_and_masked(stages: StageManager, s3: S3Server) -> None:
    info = stages.create(
        "landing",
        url=f"s3://{BUCKET}/p",
        storage_options=s3.storage_options(token="session-token-value"),
    )
    masked = {"key": "****", "secret": "****", "token": "****"}
    assert {k: info.storage_options[k] for k in masked} == masked
    assert info.storage_options["endpoint_url"] == s3.endpoint_url  # not a secret
    assert s3.secret not in repr(info) + repr(stages.stage("landing"))
    row = stages.catalog.query_one("SELECT options FROM stages WHERE name = 'landing'")
    assert row is not None and json.loads(row["options"])["secret"] == "****"
    path = stages.secrets.path("landing")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["secret"] == s3.secret
    stages.stage("landing").write_bytes("x", b"works with the stored credentials")
    stages.drop("landing")
    assert not path.exists()
    assert s3.client().get_object(Bucket=BUCKET, Key="p/x")["Body"].read()  # files are kept


# --- errors ---------------------------------------------------------------------------------
def test_missing_files_and_buckets_are_file_not_found(stages: StageManager, s3: S3Server) -> None:
    stages.create("landing", url=f"s3://{BUCKET}/p", storage_options=s3.storage_options())
    with pytest.raises(FileNotFoundError, match=r"@landing/no/such\.png") as info:
        stages.stage("landing").read_bytes("no/such.png")
    assert info.value.filename == "@landing/no/such.png"
    assert info.value.__cause__ is not None
    stages.create("gone", url="s3://no-such-bucket/p", storage_options=s3.storage_options())
    for call in (
        lambda: stages.list_stage("@gone/imgs/"),
        lambda: stages.stage("gone").read_bytes("imgs/a.png"),
        lambda: stages.stage("gone").write_bytes("imgs/a.png", b"x"),
    ):
        with pytest.raises(FileNotFoundError, match=r"bucket of stage @gone does not exist") as e:
            call()
        assert e.value.filename.startswith("@gone/")
        assert e.value.__cause__ is not None


def _limited_user(s3: S3Server) -> dict[str, str]:
    """An IAM user who may read ``p/open/*`` and nothing else."""
    iam = s3.client("iam")
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{BUCKET}/p/*"}
        ],
    }
    iam.put_user_policy(UserName="reader", PolicyName="read", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}


def test_access_denied_is_permission_error_naming_the_stage_path(
    stages: StageManager, s3: S3Server
) -> None:
    s3.client().put_object(Bucket=BUCKET, Key="p/open/a.txt", Body=b"readable")
    user = _limited_user(s3)
    stages.create("landing", url=f"s3://{BUCKET}/p", storage_options=s3.storage_options(**user))
    s3.enforce_auth(True)
    stage = stages.stage("landing")
    assert stage.read_bytes("open/a.txt") == b"readable"
    for call, path in (
        (lambda: stage.write_bytes("open/new.txt", b"x"), "@landing/open/new.txt"),
        (lambda: stages.list_stage("@landing/open/"), "@landing/open"),
        (lambda: stages.remove("@landing/open/a.txt"), "@landing/open/a.txt"),
    ):
        with pytest.raises(PermissionError, match="access denied by S3") as info:
            call()
        assert info.value.filename == path
        assert info.value.__cause__ is not None
    s3.enforce_auth(False)
    assert s3.client().get_object(Bucket=BUCKET, Key="p/open/a.txt")["Body"].read() == b"readable"


def test_default_credential_chain(
    stages: StageManager, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.client().put_object(Bucket=BUCKET, Key="p/a.txt", Body=b"from the chain")
    user = _limited_user(s3)
    stages.create(
        "landing",
        url=f"s3://{BUCKET}/p",
        storage_options={"endpoint_url": s3.endpoint_url},  # no credentials given
    )
    assert not stages.secrets.path("landing").exists()
    s3.enforce_auth(True)
    with pytest.raises(PermissionError, match="no AWS credentials found") as info:
        stages.stage("landing").read_bytes("a.txt")
    assert info.value.filename == "@landing/a.txt"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", user["key"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", user["secret"])
    stages.cache_seconds = 0  # a fresh connection, which looks the credentials up again
    assert stages.stage("landing").read_bytes("a.txt") == b"from the chain"


def test_session_file_operations_on_an_s3_stage(
    stages: StageManager, s3: S3Server, tmp_path: Path
) -> None:
    stages.create("landing", url=f"s3://{BUCKET}/ops", storage_options=s3.storage_options())
    src = tmp_path / "src"
    for rel in ("cats/a.png", "cats/young/b.png", "dogs/c.jpg"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(rel.encode())
    uploaded = stages.put(str(src), "@landing/pets/")
    assert [f.path for f in uploaded] == [
        "@landing/pets/cats/a.png",
        "@landing/pets/cats/young/b.png",
        "@landing/pets/dogs/c.jpg",
    ]
    table = stages.list_stage_files("@landing/pets", pattern=r".*\.png", column_name="IMG")
    assert table.column("IMG").to_pylist() == [
        "@landing/pets/cats/a.png",
        "@landing/pets/cats/young/b.png",
    ]
    got = stages.get("@landing/pets/cats/", tmp_path / "down")
    assert sorted(Path(p).relative_to(tmp_path / "down").as_posix() for p in got) == [
        "a.png",
        "young/b.png",
    ]
    assert (tmp_path / "down" / "young" / "b.png").read_bytes() == b"cats/young/b.png"
    assert stages.remove("@landing/pets/cats/") == [
        "@landing/pets/cats/a.png",
        "@landing/pets/cats/young/b.png",
    ]
    assert _every_key(s3, "ops/") == ["ops/pets/dogs/c.jpg"]
    with pytest.raises(FileNotFoundError, match=r"@landing/pets/cats/a\.png"):
        stages.get("@landing/pets/cats/a.png", tmp_path / "again")
