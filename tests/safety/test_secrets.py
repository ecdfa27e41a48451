"""Credentials never appear in a message, a log line or a repr."""

from __future__ import annotations

import pandas as pd
import pytest

from squall import jobs
from squall.errors import InvalidArgumentError, redact
from squall.model import custom_model
from tests.safety.conftest import run_once

KEY, SECRET = "AKIAEXAMPLEKEY", "wJalrXUtnFEMIsecretvalue"


class Leaky(custom_model.CustomModel):
    """Prints and raises a URL that holds credentials, as a careless model might (x > 5)."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        if (X["x"] <= 5).all():
            return pd.DataFrame({"y": X["x"]})
        url = "s3://AKIAEXAMPLEKEY:wJalrXUtnFEMIsecretvalue@bucket/data?X-Amz-Signature=abc123"
        print(f"reading {url}", flush=True)
        raise ValueError(f"cannot read {url}")


@pytest.mark.parametrize(
    "url",
    [
        f"s3://{KEY}:{SECRET}@bucket/prefix",
        f"gcs://{KEY}:{SECRET}@bucket/prefix",
        f"https://{KEY}:{SECRET}@example.invalid/x",
        f"s3://bucket/prefix?X-Amz-Credential={KEY}&X-Amz-Signature={SECRET}",
    ],
)
def test_a_refused_stage_url_does_not_repeat_its_credentials(session, url: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        session.create_stage("landing", url=url)
    for shown in (str(info.value), repr(info.value), *map(str, info.value.args)):
        assert SECRET not in shown and KEY not in shown
    assert "****" in str(info.value)


def test_redact_keeps_what_is_not_a_credential() -> None:
    for text in ("stage URL 's3://bucket/p?versionId=3' is bad", "wasbs://container@account/p"):
        assert redact(text) == text
    assert redact(f"see s3://{KEY}:{SECRET}@b/x and more") == "see s3://****@b/x and more"


def test_job_messages_and_logs_mask_credentials(session) -> None:
    job = run_once(session, Leaky(), 9.0, max_retries=0)
    assert job.status == "FAILED"
    logs = job.get_logs()
    assert "reading s3://****@bucket/data" in logs
    listed = jobs.list_jobs()
    for text in (logs, str(listed.to_dict()), repr(job)):
        assert SECRET not in text and KEY not in text and "abc123" not in text
