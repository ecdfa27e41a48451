"""A model or version that a live job runs is not deleted under it, unless forced."""

from __future__ import annotations

import pytest

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.errors import JobStateError, ModelNotFoundError
from squall.registry import Registry
from tests.safety.jobs_helpers import frame, log_times

SLOW = InputSpec(params={"seconds": 30.0})


def _slow_job(session: squall.Session, name: str):
    session.create_stage("out", exists_ok=True)
    mv = log_times(session)
    return mv, mv.run_batch(
        frame(4),
        input_spec=SLOW,
        output_spec=OutputSpec(stage_location=f"@out/{name}/"),
        job_spec=JobSpec(job_name=name),
    )


def test_deleting_a_version_a_running_job_uses_is_refused_naming_the_job(session):
    mv, job = _slow_job(session, "USES_V1")
    model = Registry(session).get_model("times")
    with pytest.raises(JobStateError, match=r"job\(s\) USES_V1 use it"):
        model.delete_version(mv.version_name)
    with pytest.raises(JobStateError, match="USES_V1"):
        Registry(session).delete_model("times")
    assert model.version(mv.version_name).path.exists()
    assert job.status in ("PENDING", "RUNNING")
    # force: the job is cancelled first, then the version goes
    model.delete_version(mv.version_name, force=True)
    assert job.status == "CANCELLED"
    with pytest.raises(ModelNotFoundError):
        model.version(mv.version_name)


def test_delete_model_with_force_cancels_its_jobs_first(session):
    _mv, job = _slow_job(session, "USES_MODEL")
    Registry(session).delete_model("times", force=True)
    assert job.status == "CANCELLED"
    assert Registry(session).models() == []
