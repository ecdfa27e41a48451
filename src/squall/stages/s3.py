"""External stages on Amazon S3 (``s3://bucket/prefix``), through s3fs, with server-side encryption.

Every object squall writes carries the encryption the stage asks for: ``AWS_SSE_S3``
(``ServerSideEncryption: AES256``) or ``AWS_SSE_KMS`` (``aws:kms``, with ``SSEKMSKeyId`` when
a key is named). Client-side encryption and unencrypted stages are refused at creation.

Credentials come from ``storage_options`` (``key``/``secret``/``token``, kept in the
workspace's secret store, see :mod:`squall.stages.secrets`), or, when none are given, from the
standard AWS credential chain (environment, shared config and credentials files, instance
roles), as s3fs and boto3 do.

S3 errors are raised as the builtins they mean (``FileNotFoundError``, ``PermissionError``,
``ConnectionError``, ``OSError``) naming the stage path the user wrote (``@landing/a.png``),
with the error from S3 as ``__cause__``.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from squall.errors import InvalidArgumentError, MissingExtraError, SquallError
from squall.stages.base import Stage, StageFile, StageInfo
from squall.stages.paths import normalize_relative
from squall.stages.secrets import MASK, SecretStore, masked_names, merge_secrets

__all__ = ["ENCRYPTIONS", "S3Stage", "parse_s3_url"]

#: Encryption kinds an S3 stage accepts, and the ``ServerSideEncryption`` value each sets.
ENCRYPTIONS = {"AWS_SSE_S3": "AES256", "AWS_SSE_KMS": "aws:kms"}
DEFAULT_ENCRYPTION = "AWS_SSE_S3"

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
# s3_additional_kwargs that would override or undo the stage's encryption.
_ENCRYPTION_KWARGS = frozenset(
    {"ServerSideEncryption", "SSEKMSKeyId", "SSECustomerAlgorithm", "SSECustomerKey"}
)


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of ``s3://bucket/prefix``; InvalidArgumentError naming ``url`` if bad."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3":
        raise InvalidArgumentError(f"stage URL {url!r} is not an s3:// URL")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise InvalidArgumentError(
            f"stage URL {url!r} must be plain s3://bucket/prefix (no user, query or fragment); "
            "pass credentials in storage_options"
        )
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InvalidArgumentError(
            f"stage URL {url!r}: {bucket!r} is not an S3 bucket name "
            "(3 to 63 lower-case letters, digits, '.' and '-')"
        )
    prefix = normalize_relative(parts.path.lstrip("/"), what=url)
    return bucket, prefix


def _normalize_encryption(info: StageInfo) -> tuple[str, str | None]:
    """The stage's (encryption kind, KMS key id), checked; InvalidArgumentError names the value."""
    where = f"S3 stage {info.name!r}"
    raw = info.encryption if info.encryption is not None else DEFAULT_ENCRYPTION
    if not isinstance(raw, str):
        raise InvalidArgumentError(
            f"{where}: encryption must be 'AWS_SSE_S3' or 'AWS_SSE_KMS', not {raw!r}"
        )
    kind = raw.strip().upper()
    if kind in ("AWS_CSE", "CLIENT_SIDE", "SNOWFLAKE_FULL") or "CSE" in kind:
        raise InvalidArgumentError(
            f"{where}: encryption {raw!r} is client-side encryption, which squall does not "
            "support; use server-side encryption: 'AWS_SSE_S3' or 'AWS_SSE_KMS'"
        )
    if kind not in ENCRYPTIONS:
        raise InvalidArgumentError(
            f"{where}: unknown encryption {raw!r}; S3 stages need server-side encryption, "
            "'AWS_SSE_S3' or 'AWS_SSE_KMS' (with kms_key_id)"
        )
    key_id = info.kms_key_id
    if key_id is not None and (not isinstance(key_id, str) or not key_id.strip()):
        raise InvalidArgumentError(f"{where}: kms_key_id must be a key id or ARN, not {key_id!r}")
    if key_id is not None and kind != "AWS_SSE_KMS":
        raise InvalidArgumentError(
            f"{where}: kms_key_id is only for encryption='AWS_SSE_KMS', not {kind!r}"
        )
    return kind, key_id


def _check_options(info: StageInfo) -> None:
    where = f"S3 stage {info.name!r}"
    extra = info.storage_options.get("s3_additional_kwargs")
    if extra is None:
        return
    if not isinstance(extra, dict):
        raise InvalidArgumentError(
            f"{where}: storage_options['s3_additional_kwargs'] must be a dict, not {type(extra)}"
        )
    clash = sorted(_ENCRYPTION_KWARGS & set(extra))
    if clash:
        raise InvalidArgumentError(
            f"{where}: storage_options['s3_additional_kwargs'] may not set {', '.join(clash)}; "
            "choose the stage's encryption with encryption= and kms_key_id="
        )


class S3Stage(Stage):
    """A stage on Amazon S3 (or a service that speaks its protocol, given ``endpoint_url``)."""

    kind = "s3"

    def __init__(self, info: StageInfo, home: Path) -> None:
        super().__init__(info, home)
        assert info.url is not None
        self._bucket, self._prefix = parse_s3_url(info.url)
        self._encryption, self._kms_key_id = _normalize_encryption(info)
        self._fs: Any = None

    @classmethod
    def check(cls, info: StageInfo) -> StageInfo:
        assert info.url is not None
        bucket, prefix = parse_s3_url(info.url)
        kind, key_id = _normalize_encryption(info)
        _check_options(info)
        url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return replace(info, url=url, encryption=kind, kms_key_id=key_id)

    # --- what the kind provides ----------------------------------------------------------
    @property
    def fs(self) -> Any:
        if self._fs is None:
            self._fs = self._connect()
        return self._fs

    @property
    def root(self) -> str:
        return f"{self._bucket}/{self._prefix}" if self._prefix else self._bucket

    @property
    def url(self) -> str:
        return f"s3://{self.root}"

    @property
    def encryption_headers(self) -> dict[str, str]:
        """The server-side encryption request parameters sent with every object written."""
        headers = {"ServerSideEncryption": ENCRYPTIONS[self._encryption]}
        if self._kms_key_id is not None:
            headers["SSEKMSKeyId"] = self._kms_key_id
        return headers

    def _connect(self) -> Any:
        try:
            import s3fs
        except ImportError as exc:
            raise MissingExtraError("s3fs", "s3", "an S3 stage") from exc
        secrets = SecretStore(self.home)
        options = merge_secrets(self.info.storage_options, secrets.load(self.name))
        missing = masked_names(options)
        if missing:
            raise PermissionError(
                errno.EACCES,
                f"the credentials of stage @{self.name} ({', '.join(missing)}) are missing "
                "from the workspace's secret store; drop and create the stage again",
                str(secrets.path(self.name)),
            )
        extra = dict(options.pop("s3_additional_kwargs", None) or {})
        extra.update(self.encryption_headers)
        # No listings cache: other processes write to the same bucket, and a stale listing
        # would hide their files. No instance cache: each stage owns its connection.
        options.setdefault("use_listings_cache", False)
        return s3fs.S3FileSystem(**options, s3_additional_kwargs=extra, skip_instance_cache=True)

    # --- every operation, with S3 errors translated -----------------------------------------
    @contextlib.contextmanager
    def _errors(self, rel: str) -> Iterator[None]:
        try:
            yield
        except SquallError:
            raise
        except OSError as exc:
            names_path = isinstance(exc.filename, str) and exc.filename.startswith("@")
            if names_path and _s3_code(exc) != "NoSuchBucket":
                raise  # already names the stage path
            raise self._translate(exc, rel) from exc
        except Exception as exc:
            if _is_botocore_error(exc):
                raise self._translate(exc, rel) from exc
            raise

    def _translate(self, exc: BaseException, rel: str) -> OSError:
        """The builtin error ``exc`` means, naming the stage path of ``rel``."""
        try:
            shown = self.stage_path(rel)
        except InvalidArgumentError:
            shown = f"@{self.name}/{rel}"
        code = _s3_code(exc)
        label = f" ({code})" if code else ""
        name = type(exc).__name__
        if code == "NoSuchBucket":
            return FileNotFoundError(
                errno.ENOENT, f"the bucket of stage @{self.name} does not exist", shown
            )
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return PermissionError(
                errno.EACCES,
                "no AWS credentials found: give key and secret in the stage's storage_options, "
                "or configure the AWS credential chain (environment variables, ~/.aws)",
                shown,
            )
        if isinstance(exc, FileNotFoundError):
            return FileNotFoundError(errno.ENOENT, "no such file on the stage", shown)
        if isinstance(exc, PermissionError):
            return PermissionError(errno.EACCES, f"access denied by S3{label}", shown)
        if isinstance(exc, IsADirectoryError):
            return IsADirectoryError(errno.EISDIR, "a folder, not a file", shown)
        if isinstance(exc, FileExistsError):
            return FileExistsError(errno.EEXIST, f"the file exists{label}", shown)
        if isinstance(exc, ConnectionError | TimeoutError) or "Connect" in name:
            return ConnectionError(errno.ECONNREFUSED, f"cannot reach S3 ({name})", shown)
        return OSError(errno.EIO, self._scrub(f"S3 request failed{label}: {exc}"), shown)

    def _scrub(self, text: str) -> str:
        """``text`` with any credential of this stage replaced by the mask."""
        for value in _leaves(SecretStore(self.home).load(self.name)):
            if isinstance(value, str) and value:
                text = text.replace(value, MASK)
        return text

    def list(self, rel: str = "", pattern: str | None = None) -> Iterator[StageFile]:
        with self._errors(rel):
            yield from super().list(rel, pattern)

    def _find(self, rel: str) -> Iterator[tuple[str, dict[str, Any]]]:
        # A path naming nothing lists nothing; a missing bucket is an error, not emptiness.
        try:
            found = self.fs.find(self.full_path(rel), detail=True)
        except FileNotFoundError as exc:
            if _s3_code(exc) == "NoSuchBucket":
                raise
            return
        prefix = self.root + "/"
        for path, info in found.items():
            path = self.fs._strip_protocol(path)
            if info.get("type", "file") == "file" and path.startswith(prefix):
                yield path[len(prefix) :], info

    def info_of(self, rel: str) -> StageFile:
        with self._errors(rel):
            return super().info_of(rel)

    def exists(self, rel: str) -> bool:
        with self._errors(rel):
            return super().exists(rel)

    def is_file(self, rel: str) -> bool:
        with self._errors(rel):
            return super().is_file(rel)

    def is_dir(self, rel: str) -> bool:
        with self._errors(rel):
            return super().is_dir(rel)

    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        with self._errors(rel):
            f = super().open(rel, mode)
        return _TranslatingFile(f, lambda: self._errors(rel))  # type: ignore[return-value]

    def read_bytes(self, rel: str) -> bytes:
        with self._errors(rel):
            return super().read_bytes(rel)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self._errors(rel):
            self.fs.pipe_file(self.full_path(rel), data)

    def put(self, local_path: str | Path, rel: str) -> StageFile:
        with self._errors(rel):
            return super().put(local_path, rel)

    def get(self, rel: str, local_path: str | Path) -> None:
        with self._errors(rel):
            super().get(rel, local_path)

    def remove(self, rel: str) -> builtins.list[str]:
        with self._errors(rel):
            return super().remove(rel)

    def commit(self, tmp_rel: str, final_rel: str) -> None:
        """Copy to the final name (S3 has no rename), then delete the temporary object."""
        with self._errors(tmp_rel):
            super().commit(tmp_rel, final_rel)

    # Publishing once: a conditional write (``If-None-Match: *``), so S3 itself refuses the
    # second of two writers of a name, however close they race.

    def put_if_absent(self, local_path: str | Path, rel: str) -> bool:
        with self._errors(rel):
            return self._create(rel, lambda full: self.fs.put_file(
                str(local_path), full, mode="create"
            ))  # fmt: skip

    def commit_part(self, tmp_rel: str, final_rel: str) -> bool:
        """Read the temporary object, write it under the final name if none is there, then
        delete it (S3 has no rename; output parts are written locally and published with
        :meth:`put_if_absent`, so this path is for callers that staged the file here)."""
        with self._errors(tmp_rel):
            data = self.fs.cat_file(self.full_path(tmp_rel))
        try:
            with self._errors(final_rel):
                return self._create(final_rel, lambda full: self.fs.pipe_file(
                    full, data, mode="create"
                ))  # fmt: skip
        finally:
            with contextlib.suppress(OSError), self._errors(tmp_rel):
                self.fs.rm_file(self.full_path(tmp_rel))

    def _create(self, rel: str, write: Callable[[str], Any]) -> bool:
        """``write`` the object of ``rel`` with ``If-None-Match: *``; False when one exists."""
        full = self.full_path(rel)
        for attempt in range(_CONFLICT_RETRIES):
            try:
                write(full)
                return True
            except FileExistsError:
                return False
            except OSError as exc:
                # Two conditional writes of one key in flight: S3 answers the later 409
                # ConditionalRequestConflict; once the first lands, the retry is refused.
                code = _s3_code(exc)
                if code == "PreconditionFailed":  # the same refusal, not typed as such
                    return False
                conflict = code == "ConditionalRequestConflict"
                if not conflict or attempt == _CONFLICT_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")


_CONFLICT_RETRIES = 5


class _TranslatingFile:
    """A file of an S3 stage whose reads, writes and close raise errors naming the stage path.

    Small files are uploaded on close, so that is where a refused write shows up.
    """

    def __init__(self, f: Any, errors: Any) -> None:
        self._f = f
        self._errors = errors

    def read(self, *args: Any) -> Any:
        with self._errors():
            return self._f.read(*args)

    def write(self, data: Any) -> Any:
        with self._errors():
            return self._f.write(data)

    def flush(self) -> None:
        with self._errors():
            self._f.flush()

    def close(self) -> None:
        with self._errors():
            self._f.close()

    def __enter__(self) -> _TranslatingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Any]:
        return iter(self._f)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)


def _is_botocore_error(exc: BaseException) -> bool:
    return any(c.__module__.startswith("botocore") for c in type(exc).__mro__)


def _s3_code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchBucket``, ``AccessDenied``) behind an error, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        current = current.__cause__ or current.__context__
    if "bucket does not exist" in str(exc):
        return "NoSuchBucket"
    return None


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value
