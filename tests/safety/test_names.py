"""One name rule for models, versions, stages, tables and jobs; unquoted names are upper-case."""

from __future__ import annotations

import pandas as pd
import pytest

from squall import jobs
from squall.batch import JobSpec, OutputSpec
from squall.errors import InvalidArgumentError, InvalidSpecError
from squall.registry import Registry
from tests.e2e.models import Doubler

SAMPLE = pd.DataFrame({"x": [1.0]})
BAD = ["EVIL\n", "a b", "x/y", "../x", "1abc", "", "é", "a" * 129, "a\x85", '"a"b"']


@pytest.fixture
def reg(session) -> Registry:
    return Registry(session)


@pytest.mark.parametrize("bad", BAD)
def test_bad_model_and_version_names_are_refused_naming_them(session, reg, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        reg.log_model(Doubler(), model_name=bad, sample_input_data=SAMPLE)
    assert repr(bad)[:40] in str(info.value)
    with pytest.raises(InvalidArgumentError) as info:
        reg.log_model(Doubler(), model_name="ok", version_name=bad, sample_input_data=SAMPLE)
    assert repr(bad)[:40] in str(info.value)
    assert sorted(p.name for p in (session.home / "models").iterdir()) == []
    assert str(session.home) not in str(info.value)


@pytest.mark.parametrize("bad", BAD)
def test_bad_stage_and_table_names_are_refused_naming_them(session, bad: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        session.create_stage(bad)
    assert repr(bad)[:40] in str(info.value)
    with pytest.raises(InvalidArgumentError) as info:
        session.create_table(bad, pd.DataFrame({"x": [1]}))
    assert repr(bad)[:40] in str(info.value)
    assert sorted(p.name for p in (session.home / "stages").iterdir()) == []


@pytest.mark.parametrize("bad", BAD)
def test_bad_job_names_and_prefixes_are_refused_naming_them(bad: str) -> None:
    for what in ("job_name", "job_name_prefix"):
        with pytest.raises(InvalidSpecError) as info:
            JobSpec(**{what: bad})
        assert repr(bad)[:40] in str(info.value)


def test_names_at_the_length_limit_work_end_to_end(session, reg) -> None:
    name = "m" * 128
    mv = reg.log_model(Doubler(), model_name=name, version_name="v" * 128, sample_input_data=SAMPLE)
    assert mv.model_name == name.upper()
    session.create_stage("s" * 128)
    session.create_table("t" * 128, pd.DataFrame({"x": [1]}))
    JobSpec(job_name_prefix="p" * 95)
    with pytest.raises(InvalidSpecError, match="at most 95"):
        JobSpec(job_name_prefix="p" * 96)
    session.create_stage("out")
    job = mv.run_batch(
        SAMPLE,
        output_spec=OutputSpec(base_stage_location="@out/runs/"),
        job_spec=JobSpec(job_name="j" * 128, block=True),
    )
    assert job.status == "DONE"
    assert job.name == "J" * 128


# --- identifier case: unquoted names are case-insensitive and shown upper-case -----------


def test_version_names_are_shown_upper_case_everywhere(session, reg) -> None:
    mv = reg.log_model(Doubler(), model_name="churn", version_name="v1", sample_input_data=SAMPLE)
    assert (mv.model_name, mv.version_name) == ("CHURN", "V1")
    model = reg.get_model("Churn")
    assert model.name == "CHURN"
    assert model.version("V1").version_name == model.version("v1").version_name == "V1"
    assert model.default.version_name == "V1"
    assert model.show_versions()["name"].tolist() == ["V1"]
    shown = reg.show_models()
    assert shown.loc[0, ["name", "versions", "default_version"]].tolist() == ["CHURN", "V1", "V1"]
    assert (session.home / "models" / "CHURN" / "V1").is_dir()


def test_quoted_names_keep_their_case_as_upstream(session, reg) -> None:
    low = reg.log_model(Doubler(), model_name="m", version_name='"v1"', sample_input_data=SAMPLE)
    up = reg.log_model(Doubler(), model_name="m", version_name="v1", sample_input_data=SAMPLE)
    assert (low.version_name, up.version_name) == ('"v1"', "V1")
    model = reg.get_model("M")
    assert model.version('"v1"').version_name == '"v1"'
    assert model.version('"V1"').version_name == "V1"  # a quoted upper-case name is the same
    assert model.show_versions()["name"].tolist() == ['"v1"', "V1"]


def test_job_names_resolve_like_identifiers(session, reg) -> None:
    mv = reg.log_model(Doubler(), model_name="dbl", sample_input_data=SAMPLE)
    session.create_stage("out")
    job = mv.run_batch(
        SAMPLE,
        output_spec=OutputSpec(base_stage_location="@out/runs/"),
        job_spec=JobSpec(job_name="nightly_run", block=True),
    )
    assert job.name == "NIGHTLY_RUN"
    assert jobs.get_job("nightly_run").id == job.id
    assert session.list_stage("@out/runs/NIGHTLY_RUN/")
    prefixed = mv.run_batch(
        SAMPLE,
        output_spec=OutputSpec(base_stage_location="@out/runs/"),
        job_spec=JobSpec(job_name_prefix="daily", block=True),
    )
    assert prefixed.name.startswith("DAILY_")


def test_table_names_are_shown_upper_case(session) -> None:
    session.create_table("reviews", pd.DataFrame({"x": [1]}))
    assert session.warehouse.list_tables() == ["REVIEWS"]
    assert session.table("Reviews").count() == 1
    assert session.sql("SELECT count(*) AS n FROM reviews").to_pandas()["n"].item() == 1
