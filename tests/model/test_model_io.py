"""cast_input and check_output: data in and out of a model function, against its signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from squall.errors import ModelOutputError, SignatureError
from squall.model.signature import (
    DataType,
    FeatureGroupSpec,
    FeatureSpec,
    ModelSignature,
    cast_input,
    check_output,
)

SIG = ModelSignature(
    inputs=[FeatureSpec("Age", DataType.DOUBLE), FeatureSpec("city", DataType.STRING)],
    outputs=[FeatureSpec("score", DataType.DOUBLE), FeatureSpec("label", DataType.INT64)],
)


def test_cast_input_matches_names_ignoring_case_and_orders_as_the_signature() -> None:
    df = pd.DataFrame({"CITY": ["a", "b"], "extra": [1, 2], "age": [1.5, 2.5]})
    out = cast_input(df, SIG)
    assert list(out.columns) == ["Age", "city"]
    assert out["Age"].tolist() == [1.5, 2.5]
    assert list(df.columns) == ["CITY", "extra", "age"]  # the caller's frame is untouched


def test_cast_input_exact_match_wins_over_case() -> None:
    sig = ModelSignature([FeatureSpec("x", DataType.INT64)], [FeatureSpec("y", DataType.INT64)])
    df = pd.DataFrame({"X": [1], "x": [2]})
    assert cast_input(df, sig)["x"].tolist() == [2]


def test_cast_input_ambiguous_and_missing_columns() -> None:
    df = pd.DataFrame({"AGE": [1.0], "Age ": [1.0], "aGe": [2.0], "town": ["a"]})
    sig = ModelSignature([FeatureSpec("age", DataType.DOUBLE)], [FeatureSpec("y", DataType.INT64)])
    with pytest.raises(SignatureError, match="'age' is ambiguous: 'AGE', 'aGe'"):
        cast_input(df, sig)
    twice = pd.DataFrame([[1.0, 2.0]], columns=["age", "age"])
    with pytest.raises(SignatureError, match="'age' is ambiguous: it appears 2 times"):
        cast_input(twice, sig)
    with pytest.raises(SignatureError) as info:
        cast_input(pd.DataFrame({"town": ["a"], "height": [1]}), SIG)
    assert str(info.value) == (
        "input is missing column(s) Age, city required by the signature; "
        "available columns: town, height"
    )


def test_cast_input_keeps_float32_and_shares_memory() -> None:
    values = np.random.default_rng(0).random((1000, 2), dtype=np.float32)
    df = pd.DataFrame(values, columns=["b", "a"]).assign(id=np.arange(1000))
    sig = ModelSignature(
        [FeatureSpec("A", DataType.DOUBLE), FeatureSpec("B", DataType.DOUBLE)],
        [FeatureSpec("y", DataType.DOUBLE)],
    )
    out = cast_input(df, sig)
    assert list(out.dtypes) == [np.float32, np.float32]
    assert np.shares_memory(out["A"].to_numpy(), df["a"].to_numpy())
    same = pd.DataFrame(values, columns=["A", "B"])
    assert cast_input(same, sig) is same


def test_cast_input_refuses_a_dtype_that_cannot_hold_the_type() -> None:
    df = pd.DataFrame({"age": ["old", "young"], "city": ["a", "b"]})
    with pytest.raises(SignatureError, match=r"input column 'Age' has dtype str .*DOUBLE"):
        cast_input(df, SIG)
    ok = pd.DataFrame(
        {"age": np.array([1, 2], dtype="int8"), "city": pd.Series(["a", "b"], dtype=object)}
    )
    assert list(cast_input(ok, SIG).columns) == ["Age", "city"]


def test_check_output_dataframe_by_name() -> None:
    out = pd.DataFrame(
        {"LABEL": [1, 0], "Score": np.array([0.1, 0.2], dtype="float32"), "x": 1}, index=[5, 6]
    )
    checked = check_output(out, SIG, 2, "predict")
    assert list(checked.columns) == ["score", "label"]
    assert checked["score"].dtype == np.float32  # numeric types are not converted
    assert isinstance(checked.index, pd.RangeIndex)


def test_check_output_positional_forms() -> None:
    one = ModelSignature([FeatureSpec("x", DataType.DOUBLE)], [FeatureSpec("p", DataType.DOUBLE)])
    assert check_output(np.array([0.5, 0.7]), one, 2, "f")["p"].tolist() == [0.5, 0.7]
    assert check_output(pd.Series([1.0, 2.0], name="other"), one, 2, "f")["p"].tolist() == [
        1.0,
        2.0,
    ]
    assert check_output([3.0, 4.0], one, None, "f")["p"].tolist() == [3.0, 4.0]
    two = check_output(np.array([[0.5, 1.0], [0.7, 0.0]]), SIG, 2, "f")
    assert list(two.columns) == ["score", "label"]
    assert two["label"].tolist() == [1.0, 0.0]
    rows = check_output([(0.5, 1), (0.6, 0)], SIG, 2, "f")
    assert rows["label"].tolist() == [1, 0]
    vec = ModelSignature([], [FeatureSpec("emb", DataType.FLOAT, shape=(3,))])
    emb = check_output(np.zeros((2, 3), dtype="float32"), vec, 2, "embed")
    assert emb["emb"].iloc[0].shape == (3,)


def test_check_output_row_count() -> None:
    with pytest.raises(ModelOutputError) as info:
        check_output(pd.DataFrame({"score": [0.1], "label": [1]}), SIG, 3, "predict")
    assert "returned 1 row(s) for 3 input row(s)" in str(info.value)
    assert "'predict'" in str(info.value)
    assert (
        len(check_output(pd.DataFrame({"score": [0.1], "label": [1]}), SIG, None, "forecast")) == 1
    )


def test_check_output_missing_columns_names_both_sides() -> None:
    with pytest.raises(ModelOutputError) as info:
        check_output(pd.DataFrame({"score": [0.1], "pred": [1]}), SIG, 1, "predict")
    assert str(info.value) == (
        "function 'predict' output is missing column(s) label; it returned column(s) score, pred"
    )
    with pytest.raises(
        ModelOutputError, match=r"shape \(2, 3\).*2 output column\(s\): score, label"
    ):
        check_output(np.zeros((2, 3)), SIG, 2, "predict")
    with pytest.raises(ModelOutputError, match="returned a str"):
        check_output("nope", SIG, 1, "predict")


def test_check_output_bad_types_name_column_and_types() -> None:
    with pytest.raises(ModelOutputError) as info:
        check_output(pd.DataFrame({"score": ["high"], "label": [1]}), SIG, 1, "predict")
    assert "output column 'score' has dtype str (STRING)" in str(info.value)
    assert "DOUBLE" in str(info.value)
    with pytest.raises(ModelOutputError, match="'label' holds fractional values"):
        check_output(pd.DataFrame({"score": [0.1, 0.2], "label": [1.0, 0.5]}), SIG, 2, "predict")
    whole = check_output(pd.DataFrame({"score": [0.1, 0.2], "label": [1.0, np.nan]}), SIG, 2, "p")
    assert whole["label"].iloc[0] == 1.0
    texts = ModelSignature([], [FeatureSpec("t", DataType.STRING)])
    with pytest.raises(ModelOutputError, match="'t' holds integer values"):
        check_output(pd.DataFrame({"t": pd.Series([1, 2], dtype=object)}), texts, 2, "gen")
    numbers = check_output(
        pd.DataFrame({"score": pd.Series([1, 2.5], dtype=object), "label": [1, 2]}), SIG, 2, "p"
    )
    assert numbers["score"].tolist() == [1, 2.5]


def test_check_output_nested_columns() -> None:
    sig = ModelSignature(
        [],
        [
            FeatureSpec("vec", DataType.DOUBLE, shape=(2,)),
            FeatureGroupSpec("meta", [FeatureSpec("tag", DataType.STRING)]),
        ],
    )
    out = pd.DataFrame({"vec": [np.zeros(2)], "meta": [{"tag": "a"}]})
    assert check_output(out, sig, 1, "f").shape == (1, 2)
    with pytest.raises(
        ModelOutputError, match="'vec' has dtype float64, but the signature says DOUBLE with shape"
    ):
        check_output(pd.DataFrame({"vec": [1.0], "meta": [{"tag": "a"}]}), sig, 1, "f")
