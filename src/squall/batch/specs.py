"""The specifications a user passes to ``run_batch``: what to read, where to write, how to run.

Each spec checks what it can on its own at construction; checks that need the model, the
input or the workspace live in ``squall.batch.validate``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, NotRequired, TypedDict

from squall.errors import InvalidArgumentError, InvalidSpecError
from squall.model.inference_engine import InferenceEngine
from squall.names import MAX_NAME_LENGTH, MAX_PREFIX_LENGTH, check_name

__all__ = [
    "ColumnHandlingOptions",
    "FileEncoding",
    "InferenceEngine",
    "InputFormat",
    "InputSpec",
    "JobSpec",
    "OutputSpec",
    "SaveMode",
]


class _StrEnum(enum.StrEnum):
    @classmethod
    def parse(cls, value: Any, what: str) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            for member in cls:
                if value.strip().lower() in (member.value.lower(), member.name.lower()):
                    return member
        choices = ", ".join(m.name for m in cls)
        raise InvalidSpecError(f"unknown {what} {value!r}; choose one of {choices}")

    def __str__(self) -> str:
        return self.name


class SaveMode(_StrEnum):
    """What to do when the output location already holds files."""

    ERROR = "error"
    OVERWRITE = "overwrite"


class InputFormat(_StrEnum):
    """How a column_handling column's values are to be read."""

    FULL_STAGE_PATH = "full_stage_path"


class FileEncoding(_StrEnum):
    """What the model receives in place of a file's stage path."""

    RAW_BYTES = "raw_bytes"
    BASE64 = "base64"
    BASE64_DATA_URL = "base64_data_url"
    #: The file decoded to an ``H x W x C`` uint8 array (options ``image_mode``, ``image_size``).
    IMAGE = "image"
    #: The file decoded to float32 samples (options ``audio_sample_rate``, ``audio_mono``).
    AUDIO = "audio"


class ColumnHandlingOptions(TypedDict):
    """The typed form of one ``InputSpec.column_handling`` entry (a plain dict at run time)."""

    input_format: InputFormat
    convert_to: FileEncoding
    image_mode: NotRequired[str]  # with FileEncoding.IMAGE: "RGB" (default), "RGBA" or "L"
    image_size: NotRequired[tuple[int, int] | None]  # with FileEncoding.IMAGE: (height, width)
    audio_sample_rate: NotRequired[int | None]  # with FileEncoding.AUDIO: Hz; None: the file's
    audio_mono: NotRequired[bool]  # with FileEncoding.AUDIO: channels averaged (default True)


@dataclass(frozen=True)
class ColumnHandling:
    input_format: InputFormat
    convert_to: FileEncoding
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class InputSpec:
    """How to read X: job-wide params, file columns, partitioning."""

    params: dict[str, Any] | None = None
    column_handling: dict[str, Any] | None = None  # column -> ColumnHandlingOptions
    partition_column: str | None = None

    def __post_init__(self) -> None:
        if self.params is not None and not isinstance(self.params, dict):
            raise InvalidSpecError(f"InputSpec.params must be a dict, not {self.params!r}")
        if self.partition_column is not None and (
            not isinstance(self.partition_column, str) or not self.partition_column
        ):
            raise InvalidSpecError(
                f"InputSpec.partition_column must be a column name, not {self.partition_column!r}"
            )
        self._handling = _parse_column_handling(self.column_handling)

    @property
    def file_columns(self) -> dict[str, ColumnHandling]:
        """column_handling parsed: column name as given -> how to read it."""
        return dict(self._handling)


def _parse_column_handling(
    raw: dict[str, Any] | None,
) -> dict[str, ColumnHandling]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidSpecError(f"InputSpec.column_handling must be a dict, not {raw!r}")
    # imported here: squall.batch.files brings pandas, which a supervisor never needs
    from squall.batch.files.decode import AUDIO_OPTIONS, IMAGE_OPTIONS, audio_options, image_options

    out: dict[str, ColumnHandling] = {}
    for column, how in raw.items():
        if not isinstance(how, dict):
            raise InvalidSpecError(
                f"column_handling[{column!r}] must be a dict with input_format and convert_to, "
                f"not {how!r}"
            )
        enc = FileEncoding.parse(
            how.get("convert_to", FileEncoding.RAW_BYTES), f"convert_to for {column!r}"
        )
        known = {"input_format", "convert_to"}
        if enc is FileEncoding.IMAGE:
            known |= set(IMAGE_OPTIONS)
        elif enc is FileEncoding.AUDIO:
            known |= set(AUDIO_OPTIONS)
        unknown = set(how) - known
        if unknown:
            raise InvalidSpecError(
                f"column_handling[{column!r}] has unknown key(s) {sorted(unknown)}; "
                f"expected {', '.join(sorted(known))}"
                " (image_* keys need convert_to IMAGE, audio_* keys convert_to AUDIO)"
            )
        fmt = InputFormat.parse(
            how.get("input_format", InputFormat.FULL_STAGE_PATH), f"input_format for {column!r}"
        )
        options = (
            image_options(str(column), how)
            if enc is FileEncoding.IMAGE
            else audio_options(str(column), how)
            if enc is FileEncoding.AUDIO
            else {}
        )
        out[str(column)] = ColumnHandling(fmt, enc, options)
    return out


@dataclass
class OutputSpec:
    """Where the output goes: exactly one of ``stage_location`` and ``base_stage_location``."""

    stage_location: str | None = None
    mode: SaveMode | str = SaveMode.ERROR
    base_stage_location: str | None = None

    def __post_init__(self) -> None:
        self.mode = SaveMode.parse(self.mode, "save mode")
        if (self.stage_location is None) == (self.base_stage_location is None):
            what = (
                "stage_location and base_stage_location are mutually exclusive: give exactly one"
                if self.stage_location is not None
                else "OutputSpec needs exactly one of stage_location and base_stage_location"
            )
            raise InvalidSpecError(
                f"{what} "
                f"(got stage_location={self.stage_location!r}, "
                f"base_stage_location={self.base_stage_location!r})"
            )


@dataclass
class JobSpec:
    """How to run the job: its name, workers, batch size, retries, error policy.

    ``warehouse``, ``image_repo`` and ``force_rebuild`` are snowflake-ml-python's fields
    for the service that runs a job there: squall accepts and records them (in the job's
    plan) and they have no effect locally.
    """

    job_name: str | None = None
    job_name_prefix: str | None = None
    function_name: str | None = None
    num_workers: int | None = None
    replicas: int | None = None
    max_batch_rows: int | None = None
    cpu_requests: str | float | None = None
    memory_requests: str | None = None
    gpu_requests: str | int | None = None
    block: bool = False
    max_retries: int = 3
    on_error: str = "fail"
    max_error_rate: float | None = None
    shard_rows: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    warehouse: str | None = None
    image_repo: str | None = None
    force_rebuild: bool = False

    def __post_init__(self) -> None:
        for what in ("warehouse", "image_repo"):
            value = getattr(self, what)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise InvalidSpecError(f"JobSpec.{what} must be a non-empty string, not {value!r}")
        gpu = self.gpu_requests
        if gpu is not None and not (
            (isinstance(gpu, int) and not isinstance(gpu, bool) and gpu >= 0)
            or (isinstance(gpu, str) and gpu.strip().isdigit())
        ):
            raise InvalidSpecError(
                f"JobSpec.gpu_requests must be a number of GPUs (an int or a string of "
                f"digits such as '1'), not {gpu!r}"
            )
        if not isinstance(self.force_rebuild, bool):
            raise InvalidSpecError(
                f"JobSpec.force_rebuild must be True or False, not {self.force_rebuild!r}"
            )
        if self.job_name is not None and self.job_name_prefix is not None:
            raise InvalidSpecError(
                "job_name and job_name_prefix are mutually exclusive: give job_name "
                f"({self.job_name!r}) or job_name_prefix ({self.job_name_prefix!r}), not both"
            )
        for what, longest in (
            ("job_name", MAX_NAME_LENGTH),
            ("job_name_prefix", MAX_PREFIX_LENGTH),
        ):
            value = getattr(self, what)
            if value is not None:
                try:
                    check_name(value, what, quoted_ok=True, max_length=longest)
                except InvalidArgumentError as exc:
                    raise InvalidSpecError(str(exc)) from None
        for what in ("num_workers", "replicas", "max_batch_rows", "shard_rows"):
            value = getattr(self, what)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidSpecError(f"JobSpec.{what} must be a positive int, not {value!r}")
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise InvalidSpecError(
                f"JobSpec.max_retries must be an int >= 0, not {self.max_retries!r}"
            )
        if self.on_error not in ("fail", "continue"):
            raise InvalidSpecError(
                f"JobSpec.on_error must be 'fail' or 'continue', not {self.on_error!r}"
            )
        if self.max_error_rate is not None:
            if self.on_error != "continue":
                raise InvalidSpecError(
                    "JobSpec.max_error_rate applies only with on_error='continue'"
                )
            rate = self.max_error_rate
            if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise InvalidSpecError(
                    f"JobSpec.max_error_rate must be a fraction in [0, 1], not {rate!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def platform_options(self) -> dict[str, Any]:
        """The snowflake-ml-python service fields that were set: recorded, without effect here."""
        found = {"warehouse": self.warehouse, "image_repo": self.image_repo}
        out: dict[str, Any] = {k: v for k, v in found.items() if v is not None}
        if self.force_rebuild:
            out["force_rebuild"] = True
        return out
