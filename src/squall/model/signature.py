"""Model signatures: the typed columns a model function takes and gives, and its params.

>>> from squall.model.signature import DataType, FeatureSpec, ModelSignature, ParamSpec
>>> sig = ModelSignature(
...     inputs=[FeatureSpec("age", DataType.INT64)],
...     outputs=[FeatureSpec("score", DataType.DOUBLE)],
...     params=[ParamSpec("threshold", DataType.DOUBLE, 0.5)],
... )
>>> ModelSignature.from_dict(sig.to_dict()) == sig
True
"""

from __future__ import annotations

from squall.model._checks import cast_input, check_output
from squall.model._dtypes import DataType
from squall.model._infer import infer_signature
from squall.model._specs import (
    FeatureGroupSpec,
    FeatureSpec,
    ModelSignature,
    ParamGroupSpec,
    ParamSpec,
)

__all__ = [
    "DataType",
    "FeatureGroupSpec",
    "FeatureSpec",
    "ModelSignature",
    "ParamGroupSpec",
    "ParamSpec",
    "cast_input",
    "check_output",
    "infer_signature",
]
