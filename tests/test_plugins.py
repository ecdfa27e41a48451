"""The one plugin registry shape that stage kinds, model kinds and compute pools share."""

from __future__ import annotations

import pytest

from squall.compute import COMPUTE_POOLS, Executor, check_pool
from squall.errors import (
    InvalidArgumentError,
    InvalidSpecError,
    MissingExtraError,
    NotSupportedError,
)
from squall.model.kinds import MODEL_KINDS
from squall.plugins import Plugin, PluginRegistry
from squall.stages.registry import STAGE_KINDS


class Base:
    pass


class Impl(Base):
    pass


def test_every_pluggable_kind_uses_one_registry_shape() -> None:
    for registry in (STAGE_KINDS, MODEL_KINDS, COMPUTE_POOLS):
        assert isinstance(registry, PluginRegistry)
    assert "local" in COMPUTE_POOLS
    assert COMPUTE_POOLS.load("local").__name__ == "LocalExecutor"
    assert issubclass(COMPUTE_POOLS.load("local"), Executor)


def test_kinds_load_lazily_and_are_checked_against_the_base() -> None:
    registry = PluginRegistry("widget", "widgets", Base, {"impl": Plugin(f"{__name__}:Impl")})
    assert registry.load("impl") is Impl
    registry["str"] = f"{__name__}:Plugin"  # a bare "module:Class"
    with pytest.raises(TypeError, match="not a Base subclass"):
        registry.load("str")
    with pytest.raises(InvalidArgumentError, match="unknown widget 'nope'; known: impl, str"):
        registry.load("nope")


def test_a_missing_optional_package_names_the_extra_to_install() -> None:
    registry = PluginRegistry(
        "compute pool",
        "compute pools",
        Executor,
        {"ray": Plugin("tests.plugin_needs_ray:RayExecutor", library="ray_missing", extra="ray")},
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'squall\[ray\]'") as info:
        registry.load("ray")
    assert info.value.extra == "ray"


def test_a_kind_whose_module_is_not_built_is_not_supported() -> None:
    registry = PluginRegistry("widget", "widgets", Base, {"gone": Plugin("squall.not_built:X")})
    with pytest.raises(NotSupportedError, match="gone widgets are not available"):
        registry.load("gone")


def test_an_unknown_compute_pool_is_refused_naming_it() -> None:
    assert check_pool(None) == "local" and check_pool("LOCAL") == "local"
    with pytest.raises(
        InvalidSpecError, match="unknown compute_pool 'gpu-farm'; choose one of local"
    ):
        check_pool("gpu-farm")
