"""Nested and list-shaped params, as snowflake-ml-python types and merges them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from squall.errors import InvalidSpecError, SignatureError
from squall.model import custom_model
from squall.model.custom_model import resolve_params
from squall.model.signature import (
    DataType,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
    infer_signature,
)

# snowflake-ml-python's registry test for dict params, its config group as it declares it
CONFIG = ParamGroupSpec(
    "config",
    [
        ParamSpec("temperature", DataType.DOUBLE, 1.0),
        ParamSpec("top_k", DataType.INT64, 50),
        ParamSpec("use_cache", DataType.BOOL, True),
        ParamGroupSpec(
            "sampling",
            [
                ParamSpec("seed", DataType.INT64, 42),
                ParamSpec("strategy", DataType.STRING, "greedy"),
            ],
        ),
        ParamGroupSpec(
            "penalties",
            [
                ParamSpec("enabled", DataType.BOOL, False),
                ParamGroupSpec(
                    "frequency",
                    [
                        ParamSpec("weight", DataType.DOUBLE, 0.5),
                        ParamSpec("min_count", DataType.INT64, 1),
                    ],
                ),
            ],
        ),
        ParamGroupSpec(
            "records",
            [
                ParamSpec("label", DataType.STRING, "a"),
                ParamGroupSpec(
                    "meta",
                    [
                        ParamSpec("score", DataType.DOUBLE, 1.0),
                        ParamSpec("tag", DataType.STRING, "x"),
                    ],
                ),
            ],
            shape=(2,),
            default_value=[
                {"label": "a", "meta": {"score": 1.0, "tag": "x"}},
                {"label": "b", "meta": {"score": 2.0, "tag": "y"}},
            ],
        ),
    ],
)
NESTED_LIST = ParamSpec("nested_list", DataType.INT64, [[1, 2], [3, 4]], shape=(2, 2))
SIG = ModelSignature(
    [FeatureSpec("C1", DataType.INT64)],
    [FeatureSpec("output", DataType.INT64)],
    [ParamSpec("multiplier", DataType.DOUBLE, 1.0), CONFIG, NESTED_LIST],
)
DEFAULT_CONFIG = {
    "temperature": 1.0,
    "top_k": 50,
    "use_cache": True,
    "sampling": {"seed": 42, "strategy": "greedy"},
    "penalties": {"enabled": False, "frequency": {"weight": 0.5, "min_count": 1}},
    "records": [
        {"label": "a", "meta": {"score": 1.0, "tag": "x"}},
        {"label": "b", "meta": {"score": 2.0, "tag": "y"}},
    ],
}


def test_nested_group_default_is_the_members_defaults_as_upstream() -> None:
    assert CONFIG.default_value == DEFAULT_CONFIG
    assert resolve_params(SIG, None)["config"] == DEFAULT_CONFIG


def test_shaped_group_default_repeats_members_for_fixed_and_is_empty_for_variable_as_upstream():
    member = [ParamSpec("x", DataType.INT64, 1)]
    assert ParamGroupSpec("g", member, shape=(2,)).default_value == [{"x": 1}, {"x": 1}]
    assert ParamGroupSpec("g", member, shape=(-1,)).default_value == []
    assert ParamGroupSpec("g", member, shape=(2, -1)).default_value == [[], []]


# snowflake-ml-python's partial override and what its model receives
PARTIAL_CONFIG = {
    "temperature": 3.0,
    "sampling": {"strategy": "beam"},
    "penalties": {"frequency": {"weight": 0.1}},
    "records": [
        {"label": "c", "meta": {"score": 5.0, "tag": "z"}},
        {"label": "d", "meta": {"score": 6.0, "tag": "w"}},
    ],
}
PARTIAL_MERGED = {
    "temperature": 3.0,
    "top_k": 50,
    "use_cache": True,
    "sampling": {"seed": 42, "strategy": "beam"},
    "penalties": {"enabled": False, "frequency": {"weight": 0.1, "min_count": 1}},
    "records": PARTIAL_CONFIG["records"],
}


def test_partial_override_deep_merges_at_every_level_as_upstream() -> None:
    assert resolve_params(SIG, {"CONFIG": PARTIAL_CONFIG})["config"] == PARTIAL_MERGED


def test_partial_dicts_in_a_list_of_groups_keep_their_members_defaults() -> None:
    # upstream passes list items as given; squall fills their missing keys too
    records = [{"label": "c"}, {"meta": {"score": 6}}]
    assert resolve_params(SIG, {"config": {"records": records}})["config"]["records"] == [
        {"label": "c", "meta": {"score": 1.0, "tag": "x"}},
        {"label": "a", "meta": {"score": 6.0, "tag": "x"}},
    ]


def test_int64_param_with_shape_2_2_takes_a_list_of_lists_as_upstream() -> None:
    assert resolve_params(SIG, None)["nested_list"] == [[1, 2], [3, 4]]
    assert resolve_params(SIG, {"nested_list": [[5, 6], [7, 8]]})["nested_list"] == [
        [5, 6],
        [7, 8],
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"nested_list": [1, 2, 3, 4]}, "does not fit INT64 with shape (2, 2)"),
        ({"nested_list": [[1, 2, 3], [4, 5, 6]]}, "does not fit INT64 with shape (2, 2)"),
        ({"config": {"sampling": {"seed": "x"}}}, "param 'config.sampling' key 'seed' = 'x'"),
        (
            {"config": {"penalties": {"frequency": {"wieght": 1.0}}}},
            "unknown key(s) wieght of param 'config.penalties.frequency'; "
            "valid keys: weight, min_count",
        ),
        ({"config": {"records": [{"label": "c"}]}}, "param 'config.records' holds 1 item(s)"),
        ({"config": {"records": {"label": "c"}}}, "param 'config.records' = {'label': 'c'}"),
        ({"config": {"records": [{"label": 1}, {}]}}, "param 'config.records[0]' key 'label'"),
        ({"config": {"sampling": 3}}, "param 'config.sampling' = 3 (int) must be a dict"),
    ],
)
def test_bad_nested_values_are_refused_naming_their_path_as_upstream(
    params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidSpecError) as info:
        resolve_params(SIG, params)
    assert message in str(info.value)


def test_nested_specs_round_trip_through_json() -> None:
    when = dt.datetime(2024, 1, 1, 12)
    group = ParamGroupSpec(
        "g",
        [
            ParamSpec("salt", DataType.BYTES, b"\x00"),
            ParamGroupSpec("inner", [ParamSpec("at", DataType.TIMESTAMP_NTZ, when)], shape=(-1,)),
        ],
        default_value={"inner": [{"at": when}]},
    )
    sig = ModelSignature([], [], [group, NESTED_LIST])
    again = ModelSignature.from_dict(sig.to_dict())
    assert again == sig
    assert again.params[0].default_value == {"salt": b"\x00", "inner": [{"at": when}]}


def test_a_group_default_that_does_not_fit_is_refused() -> None:
    with pytest.raises(SignatureError, match="parameter group 'g': default"):
        ParamGroupSpec("g", [ParamSpec("x", DataType.INT64, 1)], default_value={"x": "one"})
    with pytest.raises(SignatureError, match="needs one or more ParamSpec or ParamGroupSpec"):
        ParamGroupSpec("g", [])


class Annotated(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(
        self,
        X: pd.DataFrame,
        *,
        nested_list: list[list[int]] = [[1, 2], [3, 4]],  # noqa: B006
        config: dict = {  # noqa: B006
            "temperature": 1.0,
            "sampling": {"seed": 42},
            "records": [{"label": "a", "meta": {"score": 1.0}}],
        },
        tags: list[dict[str, str]] = [{"k": "v"}],  # noqa: B006
    ) -> pd.DataFrame:
        return X


def test_list_of_list_annotation_gives_a_2d_shape_as_upstream() -> None:
    nested, config, tags = Annotated.method_params("predict")
    assert nested == ParamSpec("nested_list", DataType.INT64, [[1, 2], [3, 4]], shape=(-1, -1))
    assert isinstance(config, ParamGroupSpec)
    sampling, records = config.specs[1], config.specs[2]
    assert sampling == ParamGroupSpec("sampling", [ParamSpec("seed", DataType.INT64, 42)])
    assert isinstance(records, ParamGroupSpec) and records.shape == (-1,)
    assert records.default_value == [{"label": "a", "meta": {"score": 1.0}}]
    assert isinstance(tags, ParamGroupSpec) and tags.shape == (-1,)


def test_infer_signature_takes_nested_param_specs_as_upstream() -> None:
    sig = infer_signature(
        pd.DataFrame({"C1": [0, 1]}), pd.DataFrame({"output": [0, 1]}), params=[CONFIG]
    )
    assert sig.params == (CONFIG,)
    inferred = infer_signature(
        pd.DataFrame({"C1": [0]}), pd.DataFrame({"o": [0]}), params={"m": [[1.0, 2.0]]}
    )
    assert inferred.params == (ParamSpec("m", DataType.DOUBLE, [[1.0, 2.0]], shape=(-1, -1)),)
