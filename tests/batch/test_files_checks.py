"""File paths of X are checked while it is staged: each bad value is named with its row."""

from __future__ import annotations

import pyarrow as pa
import pytest

import squall
from squall.batch.files import PathChecker, check_file_columns
from squall.errors import InvalidSpecError, StageNotFoundError, StagePathError

HOW = {"P": ["full_stage_path", "raw_bytes"]}


@pytest.fixture
def checker(session: squall.Session) -> PathChecker:
    session.create_stage("images")
    session.create_stage("Other")
    return PathChecker(HOW, session.stages)


def batch(*paths: str | None) -> pa.RecordBatch:
    return pa.record_batch({"P": pa.array(paths, type=pa.string())})


def test_clean_normalisable_null_and_mixed_stage_paths_pass(checker):
    checker.check(batch("@images/cats/a.png", "@OTHER/x/y.wav", None, "@images/a/./b/../c.png"))
    checker.check(batch("@images/cats//b.png", "@other/dir/file with spaces.pdf"))
    assert checker.row == 6


@pytest.mark.parametrize(
    ("value", "error", "why"),
    [
        ("images/cats/a.png", StagePathError, "must start with '@'"),
        ("s3://bucket/a.png", StagePathError, "must start with '@'"),
        ("/tmp/a.png", StagePathError, "must start with '@'"),
        ("@images/../secrets.txt", StagePathError, "escapes its stage"),
        ("@images/a/../../x", StagePathError, "escapes its stage"),
        ("@images//etc/passwd", StagePathError, "absolute"),
        ("@images/a//b/./c.png", None, None),  # normalised to a path inside the stage
        ("@images/cats/", StagePathError, "names a folder"),
        ("@images", StagePathError, "names a folder"),
        ("@images/a\x00b", StagePathError, "NUL"),
        ("@1bad/a.png", StagePathError, "not a stage name"),
        ("@nowhere/a.png", StageNotFoundError, "stage @nowhere, which does not exist"),
    ],
)
def test_bad_paths_name_the_row_and_value(checker, value, error, why):
    checker.check(batch("@images/ok.png", "@images/ok2.png", "@images/ok3.png"))
    if error is None:
        checker.check(batch(value))
        return
    with pytest.raises(error) as info:
        checker.check(batch("@images/fine.png", value))
    message = str(info.value)
    assert "column_handling column 'P', input row 4" in message
    assert repr(value) in message
    assert why in message


def test_unknown_stage_error_lists_the_existing_stages(checker):
    with pytest.raises(StageNotFoundError, match=r"existing stages: @images, @other"):
        checker.check(batch("@images/a.png", "@Missing/b.png"))


def test_dictionary_encoded_paths_are_checked_too(checker):
    paths = pa.array(["@images/a.png", "@images/../x"]).dictionary_encode()
    with pytest.raises(StagePathError, match="input row 1"):
        checker.check(pa.record_batch({"P": paths}))


def test_column_types_and_model_inputs_are_checked_at_planning():
    schema = pa.schema([("P", pa.string()), ("N", pa.int64()), ("Q", pa.large_string())])
    check_file_columns({"P": HOW["P"]}, schema, ["P"], "predict")
    with pytest.raises(InvalidSpecError, match=r"'N' holds int64, not stage paths"):
        check_file_columns({"N": HOW["P"]}, schema, ["N"], "predict")
    with pytest.raises(InvalidSpecError, match=r"'Q' is not an input of function 'predict'"):
        check_file_columns({"Q": HOW["P"]}, schema, ["P"], "predict")
