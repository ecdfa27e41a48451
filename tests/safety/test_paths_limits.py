"""Stage paths: control characters, lengths, and folders under files are refused up front."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from squall.batch import JobSpec, OutputSpec, SaveMode
from squall.errors import StagePathError
from squall.registry import Registry
from squall.stages import parse_stage_path
from tests.e2e.models import Doubler
from tests.safety.conftest import stage_folder


@pytest.mark.parametrize("char", ["\x85", "\x9b", "\x80", "\x9f"])
def test_c1_control_characters_are_refused(session, char: str) -> None:
    with pytest.raises(StagePathError, match="control character"):
        parse_stage_path(f"@st/a{char}b.txt")
    session.create_stage("st")
    with pytest.raises(StagePathError):
        session.list_stage(f"@st/x{char}/")


def test_a_long_component_is_refused_without_a_file_system_path(session, tmp_path) -> None:
    session.create_stage("st")
    src = tmp_path / "a.txt"
    src.write_text("a")
    long = "n" * 300
    for call in (
        lambda: session.put(str(src), f"@st/{long}/"),
        lambda: session.list_stage(f"@st/{long}"),
        lambda: session.remove(f"@st/{long}/"),
        lambda: session.get(f"@st/{long}", tmp_path / "d"),
    ):
        with pytest.raises(StagePathError, match="at most 200") as info:
            call()
        assert str(session.home) not in str(info.value)
        assert len(str(info.value)) < 400


def test_a_deep_path_is_refused_without_a_recursion_error(session, tmp_path) -> None:
    session.create_stage("st")
    src = tmp_path / "a.txt"
    src.write_text("a")
    deep = "/".join(["d"] * 3000)
    with pytest.raises(StagePathError, match="too long") as info:
        session.put(str(src), f"@st/{deep}/")
    assert str(session.home) not in str(info.value)
    with pytest.raises(StagePathError, match="too long"):
        parse_stage_path(f"@st/{deep}")


def test_a_path_at_the_limits_works(session, tmp_path) -> None:
    session.create_stage("st")
    src = tmp_path / "a.txt"
    src.write_text("a")
    name = "é" * 100  # 200 bytes of UTF-8
    [up] = session.put(str(src), f"@st/{name}/")
    assert up.path == f"@st/{name}/a.txt"
    assert [f.path for f in session.list_stage("@st")] == [up.path]


@pytest.fixture
def doubler(session):
    return Registry(session).log_model(
        Doubler(), model_name="dbl", sample_input_data=pd.DataFrame({"x": [1.0]})
    )


@pytest.mark.parametrize("mode", [SaveMode.ERROR, SaveMode.OVERWRITE])
def test_an_output_location_under_a_file_is_refused_up_front(
    session, doubler, mode: SaveMode
) -> None:
    root: Path = stage_folder(session, "out")
    (root / "a.txt").write_text("data")
    with pytest.raises(StagePathError, match=r"@out/a\.txt") as info:
        doubler.run_batch(
            pd.DataFrame({"x": [1.0]}),
            output_spec=OutputSpec(stage_location="@out/a.txt/x/", mode=mode),
            job_spec=JobSpec(job_name="under_file"),
        )
    assert str(session.home) not in str(info.value)
    assert (root / "a.txt").read_text() == "data"
    assert not session.catalog.query("SELECT name FROM jobs")
