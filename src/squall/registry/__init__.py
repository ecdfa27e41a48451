"""The model registry: ``Registry``, ``Model``, ``ModelVersion``."""

from squall.registry.registry import Model, ModelVersion, Registry

__all__ = ["Model", "ModelVersion", "Registry"]
