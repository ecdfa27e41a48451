"""A job's plan: everything a worker needs to run its shards, stored with the job record.

The plan is plain JSON (params with datetimes and bytes tagged), so any process, on any
executor, rebuilds it from the catalog alone.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["JobPlan", "decode_value", "encode_value"]


def encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {"__dict__": {str(k): encode_value(v) for k, v in value.items()}}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "__datetime__" in value:
            return dt.datetime.fromisoformat(value["__datetime__"])
        if "__bytes__" in value:
            return base64.b64decode(value["__bytes__"])
        if "__dict__" in value:
            return {k: decode_value(v) for k, v in value["__dict__"].items()}
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    return value


@dataclass
class JobPlan:
    model_name: str
    version_name: str
    model_path: str
    function: str
    function_kind: str  # "inference" | "partitioned"
    output_location: str  # "@stage/path/"
    output_dir: str  # its local folder
    scratch_dir: str
    params: dict[str, Any] = field(default_factory=dict)
    # columns of X that the model reads (names as in X), in signature order
    model_columns: list[str] = field(default_factory=list)
    # column of X -> [input_format, convert_to] for file columns
    file_columns: dict[str, list[str]] = field(default_factory=dict)
    partition_column: str | None = None
    max_batch_rows: int = 65_536
    num_workers: int = 1
    max_retries: int = 3
    on_error: str = "fail"
    max_error_rate: float | None = None
    compute_pool: str = "local"
    # Per worker: CPUs (its native thread caps), bytes of memory, GPUs; and the replicas
    # (JobSpec) its workers are spread over where the compute pool has several machines.
    cpu_requests: float | None = None
    memory_bytes: int | None = None
    gpu_requests: int = 0
    replicas: int = 1
    # JobSpec's snowflake-ml-python service fields (warehouse, image_repo, force_rebuild)
    # as given: kept for the record, no effect here.
    platform_options: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["params"] = {k: encode_value(v) for k, v in self.params.items()}
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> JobPlan:
        data = json.loads(text)
        data["params"] = {k: decode_value(v) for k, v in data.get("params", {}).items()}
        return cls(**data)
