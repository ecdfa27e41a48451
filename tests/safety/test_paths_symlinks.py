"""A symbolic link inside an internal stage never leads squall outside the stage."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

import squall
from squall.batch import FileEncoding, InputFormat, InputSpec, JobSpec, OutputSpec, SaveMode
from squall.errors import StagePathError
from squall.registry import Registry
from tests.e2e.models import Doubler
from tests.e2e.test_files import Size
from tests.safety.conftest import stage_folder


def test_remove_refuses_a_linked_folder_leading_out(session, outside: Path) -> None:
    os.symlink(outside, stage_folder(session, "st") / "link")
    with pytest.raises(StagePathError, match="@st/link") as info:
        session.remove("@st/link/")
    assert str(outside) not in str(info.value)
    assert (outside / "precious.txt").read_text() == "keep me"


def test_removing_a_folder_unlinks_links_and_keeps_their_targets(session, outside: Path) -> None:
    folder = stage_folder(session, "st") / "sub"
    folder.mkdir()
    os.symlink(outside / "precious.txt", folder / "file_link")
    os.symlink(outside, folder / "dir_link")
    session.remove("@st/sub/")
    assert not os.path.lexists(folder / "file_link") and not os.path.lexists(folder / "dir_link")
    assert (outside / "precious.txt").read_text() == "keep me"


def test_list_and_get_leave_out_links_leading_out(session, outside: Path, tmp_path: Path) -> None:
    root = stage_folder(session, "st")
    (root / "inside.txt").write_text("mine")
    os.symlink(outside / "precious.txt", root / "leak.txt")
    os.symlink(root / "inside.txt", root / "alias.txt")  # a link within the stage is fine
    assert [f.path for f in session.list_stage("@st")] == ["@st/alias.txt", "@st/inside.txt"]
    got = session.get("@st/", tmp_path / "down")
    assert sorted(Path(p).name for p in got) == ["alias.txt", "inside.txt"]
    with pytest.raises(StagePathError, match=r"@st/leak\.txt"):
        session.get("@st/leak.txt", tmp_path / "down2")
    frame = squall.list_stage_files("@st").to_pandas()
    assert frame["FILE_PATH"].tolist() == ["@st/alias.txt", "@st/inside.txt"]


def test_put_refuses_to_write_through_a_link_leading_out(session, outside: Path, tmp_path) -> None:
    os.symlink(outside, stage_folder(session, "st") / "link")
    src = tmp_path / "new.txt"
    src.write_text("new")
    with pytest.raises(StagePathError):
        session.put(str(src), "@st/link/")
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]


def test_read_parquet_never_reads_a_linked_file_leading_out(session, outside: Path) -> None:
    root = stage_folder(session, "st")
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_parquet(outside / "secret.parquet")
    pd.DataFrame({"x": [9.0]}).to_parquet(root / "mine.parquet")
    os.symlink(outside / "secret.parquet", root / "s.parquet")
    with pytest.raises(StagePathError, match=r"@st/s\.parquet"):
        session.read.parquet("@st/s.parquet").to_pandas()
    assert session.read.parquet("@st/").to_pandas()["x"].tolist() == [9.0]


def test_a_file_column_cannot_read_a_file_outside_the_stage(session, outside: Path) -> None:
    os.symlink(outside / "precious.txt", stage_folder(session, "docs") / "leak.txt")
    session.create_stage("out")
    mv = Registry(session).log_model(
        Size(),
        model_name="size",
        sample_input_data=pd.DataFrame({"doc": [b"x"]}),
    )
    spec = InputSpec(
        column_handling={
            "doc": {
                "input_format": InputFormat.FULL_STAGE_PATH,
                "convert_to": FileEncoding.RAW_BYTES,
            }
        }
    )
    job = mv.run_batch(
        pd.DataFrame({"doc": ["@docs/leak.txt"]}),
        input_spec=spec,
        output_spec=OutputSpec(stage_location="@out/r/"),
        job_spec=JobSpec(block=True, max_retries=0),
    )
    assert job.status == "FAILED"
    assert "@docs/leak.txt" in job.message and "outside its stage" in job.message
    assert str(session.home) not in job.message
    assert not any(f.name.endswith(".parquet") for f in session.list_stage("@out/r/"))


def test_overwrite_to_a_linked_output_folder_is_refused(session, outside: Path) -> None:
    os.symlink(outside, stage_folder(session, "out") / "link")
    mv = Registry(session).log_model(
        Doubler(), model_name="dbl", sample_input_data=pd.DataFrame({"x": [1.0]})
    )
    with pytest.raises(StagePathError, match="@out/link"):
        mv.run_batch(
            pd.DataFrame({"x": [1.0, 2.0]}),
            output_spec=OutputSpec(stage_location="@out/link/", mode=SaveMode.OVERWRITE),
        )
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"


def test_a_stage_folder_that_is_a_link_works_and_drop_keeps_its_target(
    session, outside: Path
) -> None:
    session.create_stage("big")
    folder = session.home / "stages" / "big"
    folder.rmdir()
    os.symlink(outside, folder)  # the owner keeps this stage's files on another disk
    assert [f.path for f in session.list_stage("@big")] == ["@big/precious.txt"]
    session.drop_stage("big")
    assert not os.path.lexists(folder)
    assert (outside / "precious.txt").read_text() == "keep me"


def test_contain_checks_each_component_below_the_stage_root(tmp_path: Path) -> None:
    """The per-file check looks at the components below the (resolved) root: a link at any
    depth is resolved and must stay inside; paths without links come back as written."""
    from squall.stages.containment import contain

    root = tmp_path / "stage"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "f.png").write_bytes(b"x")
    (tmp_path / "secret").mkdir()
    (root / "a" / "inside").symlink_to(root / "a" / "b")
    (root / "a" / "out").symlink_to(tmp_path / "secret")
    real = str(root.resolve())
    plain = f"{real}/a/b/f.png"
    assert contain(real, plain, "@s/a/b/f.png") == plain
    assert contain(real, f"{real}/a/b/missing/x", "@s/a/b/missing/x") == f"{real}/a/b/missing/x"
    assert contain(real, f"{real}/a/inside/f.png", "@s/a/inside/f.png") == plain
    with pytest.raises(StagePathError, match="outside its stage"):
        contain(real, f"{real}/a/out/x.png", "@s/a/out/x.png")
    with pytest.raises(StagePathError, match="outside its stage"):
        contain(real, f"{real}/a/out", "@s/a/out")
