"""File columns together with on_error="continue": a bad file's row alone gets _ERROR."""

from __future__ import annotations

import pandas as pd

import squall
from squall.batch import InputSpec, JobSpec, OutputSpec
from squall.model import custom_model
from squall.registry import Registry


class Parse(custom_model.CustomModel):
    """Parses each document as an integer; a document that is not one raises."""

    @custom_model.inference_api
    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"value": [int(b.decode()) for b in X["doc"]]})


def test_bad_documents_are_isolated_and_good_rows_keep_their_files(session, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    bad = {7, 19}
    for i in range(30):
        (folder / f"d{i:02d}.txt").write_text("oops" if i in bad else str(i * 10))
    session.create_stage("docs")
    session.create_stage("out")
    session.put(str(folder / "*.txt"), "@docs/")
    mv = Registry(session).log_model(
        Parse(custom_model.ModelContext()),
        model_name="parse",
        sample_input_data=pd.DataFrame({"doc": [b"1"]}),
    )
    job = mv.run_batch(
        squall.list_stage_files("@docs", column_name="DOC"),
        input_spec=InputSpec(
            column_handling={"DOC": {"input_format": "full_stage_path", "convert_to": "raw_bytes"}}
        ),
        output_spec=OutputSpec(stage_location="@out/p/"),
        job_spec=JobSpec(on_error="continue", max_batch_rows=8, num_workers=1),
    )
    assert job.wait(timeout=120) == "DONE", job.get_logs()
    out = session.read.parquet("@out/p/").to_pandas().sort_values("DOC").reset_index(drop=True)
    assert out["DOC"].tolist() == [f"@docs/d{i:02d}.txt" for i in range(30)]
    for i, row in out.iterrows():
        if i in bad:
            assert pd.isna(row["value"]) and row["_ERROR"].startswith("ValueError")
        else:
            assert row["value"] == i * 10 and pd.isna(row["_ERROR"])
    assert job.progress.error_rows == 2
