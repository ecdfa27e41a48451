"""A workspace with a table, a results stage and a registered model, for DAG tests."""

from __future__ import annotations

from typing import Any

import pytest

import squall
from squall.model import custom_model
from squall.registry import Registry
from tests.e2e.models import Doubler, Failing, frame


@pytest.fixture
def ws(session: squall.Session) -> squall.Session:
    session.create_stage("results")
    session.create_table("numbers", frame(20))
    reg = Registry(session)
    reg.log_model(
        Doubler(custom_model.ModelContext()),
        model_name="doubler",
        version_name="v1",
        sample_input_data=frame(3),
    )
    reg.log_model(
        Failing(custom_model.ModelContext()),
        model_name="failing",
        version_name="v1",
        sample_input_data=frame(3),
    )
    return session


def model_version(session: squall.Session, name: str = "doubler") -> Any:
    return Registry(session).get_model(name).version("v1")
