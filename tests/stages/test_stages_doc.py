"""docs/stages.md: its Python example runs as written, against the test S3 server."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import squall
from tests.s3_server import S3Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "stages.md"


def test_the_s3_example_runs(
    session: squall.Session, s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (block,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert "http://127.0.0.1:5000" in block
    s3.bucket("squall-docs")
    events = io.BytesIO()
    pq.write_table(pa.table({"id": [1, 2]}), events)
    s3.client().put_object(
        Bucket="squall-docs", Key="landing/tables/events/e.parquet", Body=events.getvalue()
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.png").write_bytes(b"\x89PNG cat")
    exec(block.replace("http://127.0.0.1:5000", s3.endpoint_url), {"session": session})
    assert session.table("events").count() == 2
    head = s3.client().head_object(Bucket="squall-docs", Key="landing/photos/cat.png")
    assert head["ServerSideEncryption"] == "aws:kms"
