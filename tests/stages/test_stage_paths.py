"""Stage path parsing: what is accepted, how it is normalised, and what is refused."""

from __future__ import annotations

import re

import pytest

from squall.errors import InvalidArgumentError, StagePathError
from squall.stages.paths import (
    StagePath,
    glob_to_regex,
    normalize_relative,
    parse_stage_path,
    split_glob,
)

ACCEPTED = [
    # text, stage, path, is_dir_like, str()
    ("@images", "images", "", False, "@images"),
    ("@images/", "images", "", True, "@images/"),
    ("@Images/cats/a.png", "images", "cats/a.png", False, "@images/cats/a.png"),
    ("@IMAGES/Cats/A.PNG", "images", "Cats/A.PNG", False, "@images/Cats/A.PNG"),
    ("@s/a//b", "s", "a/b", False, "@s/a/b"),
    ("@s/./a/./b/", "s", "a/b", True, "@s/a/b/"),
    ("@s/a/../b", "s", "b", False, "@s/b"),
    ("@s/a/..", "s", "", True, "@s/"),
    ("@s/a/b/.", "s", "a/b", True, "@s/a/b/"),
    ("@_x$1/f", "_x$1", "f", False, "@_x$1/f"),
    ("@s/with space/é.txt", "s", "with space/é.txt", False, "@s/with space/é.txt"),
    ("@s/out/*.parquet", "s", "out/*.parquet", False, "@s/out/*.parquet"),
    ("@s/...", "s", "...", False, "@s/..."),
]


@pytest.mark.parametrize(("text", "stage", "path", "dir_like", "shown"), ACCEPTED)
def test_accepted_paths(text: str, stage: str, path: str, dir_like: bool, shown: str) -> None:
    sp = parse_stage_path(text)
    assert (sp.stage, sp.path, sp.is_dir_like) == (stage, path, dir_like)
    assert str(sp) == shown
    assert parse_stage_path(str(sp)) == sp  # str() round-trips


REFUSED = [
    # text, a fragment the message must hold
    ("images/a.png", "must start with '@'"),
    ("", "must start with '@'"),
    (" @s/a", "must start with '@'"),
    ("@", "not a stage name"),
    ("@/a", "not a stage name"),
    ("@1abc/a", "not a stage name"),
    ("@my-stage/a", "not a stage name"),
    ("@db.schema.stage/a", "not a stage name"),
    ("@~/a", "not a stage name"),
    ("@%table/a", "not a stage name"),
    ("@s/../x", "escapes"),
    ("@s/a/../../x", "escapes"),
    ("@s/..", "escapes"),
    ("@s//etc/passwd", "absolute"),
    ("@s/a\x00b", "NUL"),
    ("@s/a\\b", "backslash"),
    ("@s/a\nb", "control character"),
]


@pytest.mark.parametrize(("text", "fragment"), REFUSED)
def test_refused_paths_name_the_text(text: str, fragment: str) -> None:
    with pytest.raises(StagePathError) as info:
        parse_stage_path(text)
    assert fragment in str(info.value)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_non_string_is_refused() -> None:
    with pytest.raises(StagePathError, match="must be a string"):
        parse_stage_path(42)  # type: ignore[arg-type]


def test_stage_path_passes_through() -> None:
    sp = StagePath("s", "a")
    assert parse_stage_path(sp) is sp


def test_join_and_parent() -> None:
    base = parse_stage_path("@s/out/")
    assert str(base.join("part-0.parquet")) == "@s/out/part-0.parquet"
    assert str(base.join("sub/")) == "@s/out/sub/"
    assert base.join("sub/").is_dir_like
    assert str(base.join("a/../b")) == "@s/out/b"
    assert str(parse_stage_path("@s").join("x")) == "@s/x"
    assert str(parse_stage_path("@s/a/b.png").parent) == "@s/a/"
    assert parse_stage_path("@s/a/b.png").name == "b.png"
    for bad in ["../../x", "/abs", "a\x00", "a\\b"]:
        with pytest.raises(StagePathError):
            base.join(bad)


def test_stage_paths_compare_by_value() -> None:
    assert parse_stage_path("@S/a") == parse_stage_path("@s/./a")
    assert parse_stage_path("@s/a") != parse_stage_path("@s/A")
    assert len({parse_stage_path("@s/a"), parse_stage_path("@S/x/../a")}) == 1


def test_normalize_relative() -> None:
    assert normalize_relative("") == ""
    assert normalize_relative("./a//b/") == "a/b"
    with pytest.raises(StagePathError, match="escapes"):
        normalize_relative("a/../../b")
    with pytest.raises(StagePathError, match="absolute"):
        normalize_relative("/etc/passwd")
    assert issubclass(StagePathError, InvalidArgumentError)


@pytest.mark.parametrize(
    "path",
    ["a", "a/b.png", ".", "..x/y", "a/.", "./a", "a/./b", "a/..b", "a/b/..", "a..", "x/", "a//b"],
)
def test_clean_short_paths_pass_through_as_the_full_normalisation_gives_them(path) -> None:
    """Short paths with nothing to normalise skip the work; the answer is the same."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    assert normalize_relative(path) == "/".join(parts)


def test_long_names_are_still_measured() -> None:
    with pytest.raises(StagePathError, match="bytes"):
        normalize_relative("é" * 120)  # 60+ characters, 240 bytes in one name


GLOBS = [
    ("*.parquet", "a.parquet", True),
    ("*.parquet", "x/a.parquet", False),
    ("out/*.parquet", "out/part-0.parquet", True),
    ("out/**/*.parquet", "out/part-0.parquet", True),
    ("out/**/*.parquet", "out/x/y/part-0.parquet", True),
    ("out/**", "out/x/y", True),
    ("part-?.parquet", "part-1.parquet", True),
    ("part-?.parquet", "part-10.parquet", False),
    ("part-[0-4].parquet", "part-3.parquet", True),
    ("part-[!0-4].parquet", "part-7.parquet", True),
    ("part-[!0-4].parquet", "part-3.parquet", False),
    ("a+b(1).parquet", "a+b(1).parquet", True),
]


@pytest.mark.parametrize(("glob", "path", "matches"), GLOBS)
def test_glob_to_regex(glob: str, path: str, matches: bool) -> None:
    assert bool(re.fullmatch(glob_to_regex(glob), path)) is matches


def test_split_glob() -> None:
    assert split_glob("out/run1/*.parquet") == ("out/run1", glob_to_regex("out/run1/*.parquet"))
    assert split_glob("*.parquet")[0] == ""
    assert split_glob("out/a.parquet") == ("out/a.parquet", None)
