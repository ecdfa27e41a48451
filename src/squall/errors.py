"""Every error squall raises.

One root, ``SquallError``; each subclass also inherits the builtin it resembles, so
``except ValueError`` keeps working for callers who do not know squall::

    SquallError
    ├── InvalidArgumentError(ValueError)      a bad value passed to an API
    │   ├── InvalidSpecError                  a bad InputSpec/OutputSpec/JobSpec or params
    │   ├── SignatureError                    a signature that cannot be built or is broken
    │   └── StagePathError                    a malformed or escaping stage path
    ├── NotFoundError(LookupError)
    │   ├── StageNotFoundError
    │   ├── ModelNotFoundError                a model or a version
    │   ├── TableNotFoundError
    │   ├── JobNotFoundError
    │   └── DAGNotFoundError
    ├── AlreadyExistsError(FileExistsError)
    │   ├── OutputNotEmptyError               SaveMode.ERROR on a non-empty location
    │   └── OutputInUseError                  another live job writes to (or under) the location
    ├── JobStateError(RuntimeError)           an action the job's status does not allow
    │   └── JobNotResumableError              a resume refused: DONE, running, or its
    │                                         model version or input shards are gone
    ├── JobFailedError(RuntimeError)          a job that had to end DONE did not (not raised
    │                                         by JobSpec(block=True): it returns the job)
    ├── InputFileError(OSError)               a file named in a file column could not be read
    ├── InputChangedError(RuntimeError)       a job's in-place input file changed under it
    ├── ModelOutputError(ValueError)          a model returned output that breaks its signature
    ├── MissingExtraError(ImportError)        an optional backend is not installed
    ├── NotSupportedError(NotImplementedError)  a feature this installation does not provide
    └── WarehouseBusyError(TimeoutError)      another process kept the warehouse locked too long

Errors carry the offending value in their message, and, where useful, as attributes.
Credentials never do: every squall error's message passes through :func:`redact`, which
masks the user and password of a URL (``s3://KEY:SECRET@bucket`` -> ``s3://****@bucket``)
and secret-looking query parameters (``?X-Amz-Signature=...``, ``?token=...``).
"""

from __future__ import annotations

import re

__all__ = [
    "AlreadyExistsError",
    "ComputePoolNotFoundError",
    "ComputePoolUnavailableError",
    "DAGNotFoundError",
    "InputChangedError",
    "InputFileError",
    "InvalidArgumentError",
    "InvalidSpecError",
    "JobFailedError",
    "JobNotFoundError",
    "JobNotResumableError",
    "JobStateError",
    "MissingExtraError",
    "ModelNotFoundError",
    "ModelOutputError",
    "NotFoundError",
    "NotSupportedError",
    "OutputInUseError",
    "OutputNotEmptyError",
    "SignatureError",
    "SquallError",
    "StageNotFoundError",
    "StagePathError",
    "TableNotFoundError",
    "WarehouseBusyError",
]

# user:password@ after a scheme (a user alone, as Azure's container@account, is kept).
_URL_USER = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s'\":]*:[^/?#@\s'\"]*@")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;][^=&#\s'\"]*(?:signature|token|secret|password|passwd|credential|key)"
    r"[^=&#\s'\"]*=)[^&#\s'\"]*"
)


def redact(text: str) -> str:
    """``text`` with URL credentials masked: ``s3://KEY:SECRET@bucket`` -> ``s3://****@bucket``."""
    if "://" not in text and "=" not in text:
        return text
    return _SECRET_PARAM.sub(r"\1****", _URL_USER.sub(r"\1****@", text))


class SquallError(Exception):
    """The root of every error squall raises."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        return redact(super().__str__())


class InvalidArgumentError(SquallError, ValueError):
    """A value passed to squall's API is not acceptable."""


class InvalidSpecError(InvalidArgumentError):
    """A batch specification (input, output, job, params) is not acceptable."""


class SignatureError(InvalidArgumentError):
    """A model signature cannot be built, or data does not fit it."""


class StagePathError(InvalidArgumentError):
    """A stage path is malformed or escapes its stage."""


class NotFoundError(SquallError, LookupError):
    """Something named does not exist."""

    def __str__(self) -> str:  # LookupError quotes its message like a KeyError would not
        return redact(str(self.args[0])) if self.args else ""


class StageNotFoundError(NotFoundError):
    """No stage has this name."""


class ModelNotFoundError(NotFoundError):
    """No model, or no version of it, has this name."""


class TableNotFoundError(NotFoundError):
    """No warehouse table has this name."""


class JobNotFoundError(NotFoundError):
    """No job has this name."""


class DAGNotFoundError(NotFoundError):
    """No deployed DAG has this name."""


class ComputePoolNotFoundError(NotFoundError):
    """No compute pool of that name."""


class ComputePoolUnavailableError(SquallError, ConnectionError):
    """A compute pool that cannot be reached, or lacks the resources a job asks for."""


class AlreadyExistsError(SquallError, FileExistsError):
    """Something with this name exists already."""


class OutputNotEmptyError(AlreadyExistsError):
    """The output location holds files and the save mode is ERROR."""

    def __init__(self, location: str, files: list[str]) -> None:
        shown = ", ".join(files[:10]) + (f" and {len(files) - 10} more" if len(files) > 10 else "")
        super().__init__(
            f"output location {location} is not empty ({len(files)} file(s): {shown}); "
            "use an empty location, or mode=SaveMode.OVERWRITE to replace its contents"
        )
        self.location = location
        self.files = files

    def __str__(self) -> str:
        return redact(str(self.args[0]))


class OutputInUseError(AlreadyExistsError):
    """Another job that has not ended writes to this output location, or to one inside it.

    ``location`` is the location asked for, ``job`` the name of the job holding it.
    """

    def __init__(self, location: str, job: str, held: str) -> None:
        super().__init__(
            f"output location {location} is in use by job {job}, which writes to {held} and "
            "has not ended; wait for it or cancel it, or choose another location"
        )
        self.location = location
        self.job = job

    def __str__(self) -> str:
        return str(self.args[0])


class JobStateError(SquallError, RuntimeError):
    """The job's current status does not allow this action."""


class JobNotResumableError(JobStateError):
    """A job cannot be resumed; the message says why (its status, or what is gone)."""


class JobFailedError(SquallError, RuntimeError):
    """A job that had to end DONE ended otherwise.

    ``run_batch`` with ``JobSpec(block=True)`` does not raise it: as in snowflake-ml-python,
    it returns the job once it ended, whatever its status; check ``job.status``.
    """


class InputFileError(SquallError, OSError):
    """A file that a row of X names (a column_handling column) could not be read.

    ``path`` is the stage path as written in X, ``row`` its input row (counted from 0),
    ``column`` the column of X.
    """

    def __init__(self, message: str, *, path: str, row: int, column: str) -> None:
        super().__init__(message)
        self.path = path
        self.row = row
        self.column = column

    def __str__(self) -> str:
        return redact(str(self.args[0]))


class ModelOutputError(SquallError, ValueError):
    """A model's output does not fit its signature."""


class MissingExtraError(SquallError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str, what: str) -> None:
        super().__init__(f"{what} needs the '{module}' package: pip install 'squall[{extra}]'")
        self.module = module
        self.extra = extra


class NotSupportedError(SquallError, NotImplementedError):
    """A feature (a stage kind, a backend) that this installation of squall does not provide."""


class WarehouseBusyError(SquallError, TimeoutError):
    """The warehouse stayed locked by another process past the wait deadline."""


class InputChangedError(SquallError, RuntimeError):
    """A file a job reads its input from in place changed after the job was submitted."""
