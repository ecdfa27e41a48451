"""No SQL is built by pasting a value: identifiers and literals are quoted by one helper."""

from __future__ import annotations

import pandas as pd

import squall
from squall.batch import InputSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry
from squall.sqltext import quote_identifier, quote_literal
from tests.e2e.partition_models import BatchRecorder, stores


def test_quoting_doubles_the_quote_character():
    assert quote_literal("it's") == "'it''s'"
    assert quote_identifier('a"b') == '"a""b"'


def test_a_partitioned_job_runs_in_a_workspace_whose_path_has_a_quote(tmp_path):
    session = squall.connect(tmp_path / "it's a 'workspace'")
    session.create_stage("out")
    mv = Registry(session).log_model(
        BatchRecorder(custom_model.ModelContext()),
        model_name="recorder",
        sample_input_data=stores({1: 3, 2: 2}),
        options={"function_type": "TABLE_FUNCTION"},
    )
    data = stores({1: 4, 2: 3})
    job = mv.run_batch(
        data,
        input_spec=InputSpec(partition_column="store"),
        output_spec=OutputSpec(stage_location="@out/p/"),
    )
    assert job.wait(120) == "DONE", job.message
    out = session.read.parquet("@out/p/").to_pandas()
    assert len(out) == len(data) and isinstance(out, pd.DataFrame)
