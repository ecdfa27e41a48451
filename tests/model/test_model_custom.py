"""Custom models: sub-models, artifacts, params, partitioned methods, loading where the class is unknown."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from squall.errors import (
    InvalidArgumentError,
    InvalidSpecError,
    ModelOutputError,
    NotFoundError,
    SignatureError,
)
from squall.model import custom_model
from squall.model.packaging import load_model, save_model
from squall.model.signature import DataType, FeatureSpec, ModelSignature, ParamSpec

from .conftest import RunPython


def _label(p: float, threshold: float) -> str:
    """A helper of this module: a fresh process gets it by value along with the class."""
    return "churn" if p > threshold else "stay"


class Churn(custom_model.CustomModel):
    def __init__(self, context: custom_model.ModelContext) -> None:
        super().__init__(context)
        self.clf = context.model_ref("clf")
        self.booster = context.model_ref("booster")
        self.lookup = context.model_ref("lookup")
        self.prefix = Path(context.path("prefix")).read_text()
        self.vocab_dir = Path(context.path("vocab"))

    @custom_model.inference_api
    def predict(
        self,
        X: pd.DataFrame,
        *,
        threshold: float = 0.5,
        tags: list[str] = ["a"],  # noqa: B006 - the default is recorded, never mutated
    ) -> pd.DataFrame:
        p = self.clf.predict_proba(X)[:, 1]
        return pd.DataFrame(
            {
                "p": p,
                "label": [self.prefix + _label(v, threshold) for v in p],
                "boost": self.booster.predict(xgb.DMatrix(X)),
                "n_tags": len(tags) + self.lookup["offset"],
            }
        )

    @custom_model.inference_api
    def words(self, X: pd.DataFrame) -> pd.DataFrame:
        words = (self.vocab_dir / "words.txt").read_text().split()
        return pd.DataFrame({"word": [words[i % len(words)] for i in range(len(X))]})

    @custom_model.partitioned_api
    def summarize(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"rows": [len(X)], "mean_age": [float(X["age"].mean())]})


@pytest.fixture(scope="module")
def churn(
    tmp_path_factory: pytest.TempPathFactory, tabular: tuple[pd.DataFrame, pd.Series]
) -> dict[str, object]:
    X, y = tabular
    files = tmp_path_factory.mktemp("files")
    (files / "prefix.txt").write_text("is:")
    (files / "vocab").mkdir()
    (files / "vocab" / "words.txt").write_text("alpha beta gamma")
    context = custom_model.ModelContext(
        models={
            "clf": LogisticRegression().fit(X, y),
            "booster": xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, y), 3),
            "lookup": {"offset": 10},
        },
        artifacts={"prefix": files / "prefix.txt", "vocab": str(files / "vocab")},
    )
    model = Churn(context)
    folder = tmp_path_factory.mktemp("saved") / "churn"
    manifest = save_model(
        model,
        folder,
        sample_input_data=X,
        options={"function_type": "TABLE_FUNCTION"},
        comment="churn model",
    )
    return {"model": model, "folder": folder, "manifest": manifest, "X": X}


def test_signatures_params_and_kinds(churn: dict[str, object]) -> None:
    manifest = churn["manifest"]
    assert manifest.model_type == "custom"  # type: ignore[attr-defined]
    functions = manifest.functions  # type: ignore[attr-defined]
    assert {n: f.kind for n, f in functions.items()} == {
        "predict": "inference",
        "words": "inference",
        "summarize": "partitioned",
    }
    predict = functions["predict"].signature
    assert predict.input_names == ["age", "income", "tenure", "score"]
    assert predict.outputs == (
        FeatureSpec("p", DataType.FLOAT),  # float32 features give float32 probabilities
        FeatureSpec("label", DataType.STRING),
        FeatureSpec("boost", DataType.FLOAT),
        FeatureSpec("n_tags", DataType.INT64),
    )
    assert predict.params == (
        ParamSpec("threshold", DataType.DOUBLE, 0.5),
        ParamSpec("tags", DataType.STRING, ["a"], shape=(-1,)),
    )
    assert manifest.options == {"function_type": "TABLE_FUNCTION"}  # type: ignore[attr-defined]


def test_loaded_model_has_sub_models_and_artifacts_inside_its_folder(
    churn: dict[str, object],
) -> None:
    folder: Path = churn["folder"]  # type: ignore[assignment]
    X: pd.DataFrame = churn["X"]  # type: ignore[assignment]
    loaded = load_model(folder)
    inner = loaded.model
    assert isinstance(inner, Churn)
    assert isinstance(inner.clf, LogisticRegression)
    assert isinstance(inner.booster, xgb.Booster)
    assert inner.lookup == {"offset": 10}
    assert Path(inner.context.path("prefix")).is_relative_to(folder)
    assert inner.vocab_dir.is_relative_to(folder)
    want = churn["model"].predict(X, threshold=0.3, tags=["x", "y"])  # type: ignore[attr-defined]
    got = loaded.call("PREDICT", X, {"Threshold": 0.3, "tags": ["x", "y"]})
    pd.testing.assert_frame_equal(got, want)
    assert got["n_tags"].iloc[0] == 12
    assert loaded.call("words", X.head(4))["word"].tolist() == ["alpha", "beta", "gamma", "alpha"]
    summary = loaded.call("summarize", X)
    assert summary["rows"].tolist() == [len(X)]


def test_class_from_a_test_module_loads_in_a_fresh_process(
    churn: dict[str, object], run_python: RunPython
) -> None:
    folder: Path = churn["folder"]  # type: ignore[assignment]
    X: pd.DataFrame = churn["X"]  # type: ignore[assignment]
    X.to_parquet(folder.parent / "X.parquet")
    run_python(
        f"""
        import sys
        from pathlib import Path
        import pandas as pd
        from squall.model.packaging import load_model

        folder = Path({str(folder)!r})
        X = pd.read_parquet(folder.parent / "X.parquet")
        model = load_model(folder)
        model.call("predict", X, {{"threshold": 0.3}}).to_parquet(folder.parent / "out.parquet")
        assert not any(m.startswith("tests") for m in sys.modules), "the test module was imported"
        """
    )
    want = churn["model"].predict(X, threshold=0.3)  # type: ignore[attr-defined]
    pd.testing.assert_frame_equal(pd.read_parquet(folder.parent / "out.parquet"), want)


MAIN_SCRIPT = """
import sys
import pandas as pd
from squall.model import custom_model
from squall.model.packaging import save_model
from scaling import scale  # a module next to the script, not installed anywhere

class Scaler(custom_model.CustomModel):
    @custom_model.inference_api
    def predict(self, X: pd.DataFrame, *, factor: int = 2) -> pd.DataFrame:
        return pd.DataFrame({"y": scale(X["x"], factor)})

X = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
save_model(Scaler(custom_model.ModelContext()), sys.argv[1] if len(sys.argv) > 1 else "model", sample_input_data=X)
print(Scaler.__module__)
"""


def test_class_from_main_script_loads_in_a_fresh_process(
    tmp_path: Path, run_python: RunPython
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(MAIN_SCRIPT)
    (project / "scaling.py").write_text(
        "def scale(values, factor):\n    return values * factor + 0.5\n"
    )
    saved = run_python(script=project / "train.py", cwd=project)
    assert saved.stdout.strip() == "__main__"
    (project / "scaling.py").unlink()  # the loading side cannot import it either
    loaded = run_python(
        f"""
        import pandas as pd
        from squall.model.packaging import load_model
        model = load_model({str(project / "model")!r})
        print(model.call("predict", pd.DataFrame({{"X": [1.0, 4.0]}}), {{"factor": 3}})["y"].tolist())
        """
    )
    assert loaded.stdout.strip() == "[3.5, 12.5]"


def test_partitioned_methods_need_table_function(
    tmp_path: Path, tabular: tuple[pd.DataFrame, pd.Series]
) -> None:
    class Summary(custom_model.CustomModel):
        @custom_model.partitioned_api
        def forecast(self, X: pd.DataFrame) -> pd.DataFrame:
            return pd.DataFrame({"n": [len(X)]})

    X, _ = tabular
    with pytest.raises(InvalidSpecError) as info:
        save_model(Summary(), tmp_path / "a", sample_input_data=X)
    assert "forecast are partitioned_api methods" in str(info.value)
    assert "options={'function_type': 'TABLE_FUNCTION'}" in str(info.value)
    assert not (tmp_path / "a").exists()


def test_explicit_signatures(tmp_path: Path) -> None:
    class Two(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame, *, k: int = 1) -> pd.DataFrame:
            return pd.DataFrame({"y": X["x"] + k})

        @custom_model.inference_api
        def other(self, X: pd.DataFrame) -> pd.DataFrame:
            return X

    sig = ModelSignature([FeatureSpec("x", DataType.INT64)], [FeatureSpec("y", DataType.INT64)])
    # as upstream, signatures name the functions: a method without one is left out
    assert list(save_model(Two(), tmp_path / "a", signatures={"predict": sig}).functions) == [
        "predict"
    ]
    manifest = save_model(Two(), tmp_path / "b", signatures={"predict": sig, "other": sig})
    assert manifest.functions["predict"].signature.params == (ParamSpec("k", DataType.INT64, 1),)
    assert load_model(tmp_path / "b").call("predict", pd.DataFrame({"x": [1]}), {"k": 5})[
        "y"
    ].tolist() == [6]
    wrong = ModelSignature(sig.inputs, sig.outputs, [ParamSpec("j", DataType.INT64, 1)])
    with pytest.raises(
        SignatureError, match=r"names param\(s\) j that the method does not take; its params: k"
    ):
        save_model(Two(), tmp_path / "c", signatures={"predict": wrong, "other": sig})


def test_bad_custom_models_are_refused_at_save(tmp_path: Path) -> None:
    class Loose(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame, **kwargs: object) -> pd.DataFrame:
            return X

    class Nothing(custom_model.CustomModel):
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            return X

    class Shrinks(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            return X.head(1)

    X = pd.DataFrame({"x": [1.0, 2.0]})
    with pytest.raises(SignatureError, match=r"Loose.predict: \*\*kwargs is not allowed"):
        save_model(Loose(), tmp_path / "a", sample_input_data=X)
    with pytest.raises(
        SignatureError, match=r"Nothing has no method decorated with @custom_model.inference_api"
    ):
        save_model(Nothing(), tmp_path / "b", sample_input_data=X)
    with pytest.raises(
        SignatureError, match=r"'predict' returned 1 row\(s\) for 2 sample row\(s\)"
    ):
        save_model(Shrinks(), tmp_path / "c", sample_input_data=X)
    missing = custom_model.ModelContext(artifacts={"w": tmp_path / "nope.bin"})
    with pytest.raises(InvalidArgumentError, match=r"artifact 'w': .*nope.bin does not exist"):
        save_model(Shrinks(missing), tmp_path / "d", sample_input_data=X)


def test_output_is_checked_at_call_time(tmp_path: Path) -> None:
    class Moody(custom_model.CustomModel):
        @custom_model.inference_api
        def predict(self, X: pd.DataFrame) -> pd.DataFrame:
            if len(X) > 2:
                return pd.DataFrame({"y": ["many"] * len(X)})
            return pd.DataFrame({"y": np.ones(len(X))})

    save_model(Moody(), tmp_path / "m", sample_input_data=pd.DataFrame({"x": [1, 2]}))
    model = load_model(tmp_path / "m")
    with pytest.raises(ModelOutputError, match="'predict' output column 'y' has dtype str"):
        model.call("predict", pd.DataFrame({"x": [1, 2, 3]}))


def test_context_lookups_name_the_key_and_the_choices() -> None:
    context = custom_model.ModelContext(models={"clf": 1, "enc": 2}, artifacts={"weights": "w.bin"})
    with pytest.raises(NotFoundError) as info:
        context.model_ref("tree")
    assert str(info.value) == "no model 'tree' in the context; models: clf, enc"
    with pytest.raises(
        NotFoundError, match="no artifact 'vocab' in the context; artifacts: weights"
    ):
        context.path("vocab")
    assert context.path("weights") == "w.bin"
    snowflake_style = custom_model.ModelContext(clf=1, weights=Path("w.bin"))
    assert snowflake_style.model_ref("clf") == 1
    assert snowflake_style["weights"] == "w.bin"
    with pytest.raises(NotFoundError, match="nothing under 'x' in the context; models: clf"):
        snowflake_style["x"]
    assert repr(context) == "ModelContext(models=clf, enc, artifacts=weights)"


def test_saved_folder_layout(churn: dict[str, object]) -> None:
    folder: Path = churn["folder"]  # type: ignore[assignment]
    meta = json.loads((folder / "custom.json").read_text())
    assert {k: v["kind"] for k, v in meta["models"].items()} == {
        "clf": "sklearn",
        "booster": "xgboost",
        "lookup": "pickle",
    }
    assert (folder / meta["artifacts"]["vocab"] / "words.txt").read_text() == "alpha beta gamma"
    assert textwrap.dedent((folder / meta["artifacts"]["prefix"]).read_text()) == "is:"
