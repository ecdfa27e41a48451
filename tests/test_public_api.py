"""The public surface is what API.md documents."""

from __future__ import annotations

import subprocess
import sys


def test_top_level_names() -> None:
    import squall

    for name in ("connect", "list_stage_files", "jobs", "Session", "SquallError"):
        assert hasattr(squall, name), name


def test_contract_imports() -> None:
    from squall.batch import (  # noqa: F401
        ColumnHandlingOptions,
        FileEncoding,
        InputFormat,
        InputSpec,
        JobSpec,
        OutputSpec,
        SaveMode,
    )
    from squall.jobs import delete_job, get_job, list_jobs  # noqa: F401
    from squall.model import InferenceEngine, custom_model  # noqa: F401
    from squall.model.signature import (  # noqa: F401
        DataType,
        FeatureGroupSpec,
        FeatureSpec,
        ModelSignature,
        ParamGroupSpec,
        ParamSpec,
    )
    from squall.registry import Registry  # noqa: F401

    for name in ("CustomModel", "ModelContext", "inference_api", "partitioned_api"):
        assert hasattr(custom_model, name), name


def test_errors_inherit_builtins() -> None:
    from squall import errors

    assert issubclass(errors.InvalidSpecError, ValueError)
    assert issubclass(errors.StageNotFoundError, LookupError)
    assert issubclass(errors.OutputNotEmptyError, FileExistsError)
    assert issubclass(errors.MissingExtraError, ImportError)
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.SquallError)


def test_import_is_light() -> None:
    code = "import squall, sys; print(sorted(m for m in ('ray', 'torch', 'sklearn', 'xgboost', 'lightgbm', 's3fs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
