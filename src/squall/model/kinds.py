"""The table of model kinds: name -> handler class (imported on first use) and its traits.

Kept apart from the handlers so a supervisor can ask about a kind (is it fork-safe?)
without importing pandas or the kind's library.
"""

from __future__ import annotations

from squall.plugins import Plugin, PluginRegistry

__all__ = ["MODEL_KINDS", "is_fork_safe"]

_SAFE = (("fork_safe", True),)

# Probed in this order: the xgboost and lightgbm wrappers are sklearn estimators too. A
# kind's ``library`` is the package its models come from: only models whose class comes
# from it are offered to the kind.
MODEL_KINDS = PluginRegistry(
    "model kind",
    "model kinds",
    "squall.model.handlers.base:ModelHandler",
    {
        "custom": Plugin("squall.model.handlers.custom:CustomHandler", traits=_SAFE),
        # Claims squall's TransformersPipeline and transformers' pipelines; imports no torch.
        # torch and tokenizers break in a forked child: these workers are always spawned.
        "huggingface": Plugin(
            "squall.model.handlers.huggingface:HuggingFaceHandler",
            None,
            "hf",
            (("fork_safe", False),),
        ),
        "xgboost": Plugin(
            "squall.model.handlers.xgboost:XGBoostHandler", "xgboost", "xgboost", _SAFE
        ),
        "lightgbm": Plugin(
            "squall.model.handlers.lightgbm:LightGBMHandler", "lightgbm", "lightgbm", _SAFE
        ),
        "sklearn": Plugin("squall.model.handlers.sklearn:SklearnHandler", traits=_SAFE),
    },
)


def is_fork_safe(name: str) -> bool:
    """Whether workers of the model kind ``name`` may be forked from a warm process.

    Unknown kinds, and kinds whose library is missing, count as safe: their workers fail to
    load the model either way, and say why.
    """
    if name not in MODEL_KINDS:
        return True
    declared = MODEL_KINDS[name].trait("fork_safe")
    if declared is not None:
        return bool(declared)
    try:
        return bool(getattr(MODEL_KINDS.load(name), "fork_safe", True))
    except ImportError:
        return True
