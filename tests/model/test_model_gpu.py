"""Which models can use a GPU: their kind's library, or options, as snowflake-ml-python says."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from squall.errors import InvalidSpecError
from squall.model import custom_model, read_manifest, save_model

X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
Y = [0.0, 1.0, 2.0, 3.0]


class Wrapper(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"y": self.context.model_ref("m").predict(X)})


def _gpu(model: object, folder: Path, **options: object) -> bool:
    save_model(model, folder, sample_input_data=X, options=options or None)
    return read_manifest(folder).gpu_support


def test_xgboost_models_can_use_a_gpu_by_default_as_upstream(tmp_path: Path) -> None:
    xgb = pytest.importorskip("xgboost")
    model = xgb.XGBRegressor(n_estimators=2).fit(X, Y)
    assert _gpu(model, tmp_path / "x")
    assert not _gpu(model, tmp_path / "off", gpu_support=False)
    # a custom model holding one can too, as upstream's sub-model handler sets it
    assert _gpu(Wrapper(custom_model.ModelContext(models={"m": model})), tmp_path / "c")


def test_sklearn_lightgbm_and_custom_models_need_an_option_as_upstream(tmp_path: Path) -> None:
    lgb = pytest.importorskip("lightgbm")
    linear = LinearRegression().fit(X, Y)
    assert not _gpu(linear, tmp_path / "s")
    assert not _gpu(
        lgb.LGBMRegressor(n_estimators=2, min_child_samples=1).fit(X, Y), tmp_path / "l"
    )
    wrapped = Wrapper(custom_model.ModelContext(models={"m": linear}))
    assert not _gpu(wrapped, tmp_path / "c")
    assert _gpu(wrapped, tmp_path / "cuda", cuda_version="12.4")
    assert _gpu(linear, tmp_path / "flag", gpu_support=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cuda_version": 12}, "options\\['cuda_version'\\] must be a version string"),
        ({"gpu_support": "yes"}, "options\\['gpu_support'\\] must be True or False"),
        ({"gpu_support": False, "cuda_version": "12.4"}, "give one of them"),
    ],
)
def test_bad_gpu_options_are_refused(tmp_path: Path, options: dict, message: str) -> None:
    with pytest.raises(InvalidSpecError, match=message):
        save_model(
            LinearRegression().fit(X, Y), tmp_path / "m", sample_input_data=X, options=options
        )
