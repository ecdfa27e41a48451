"""What a worker that cannot see the workspace is sent: the model, its shard, the shard's files.

A compute pool whose workers run on other machines (Ray without a shared file system) sends
them everything a local worker would open under the workspace: the model's folder (packed
once per job), each shard's rows (Arrow IPC bytes) and, with file columns
(``FULL_STAGE_PATH``), the bytes of every file the shard's rows name, read here through the
workspace's stages. The worker serves those files to its file columns through
:class:`ShippedFiles`, in place of the stages it cannot open; a file that could not be read
here fails there as it would have locally (its row's error names the path and why).
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile
from typing import IO, Any

__all__ = ["ShippedFiles", "pack_folder", "shard_bytes", "shard_files"]


def pack_folder(folder: str) -> bytes:
    """A folder as an uncompressed tar, in memory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=".")
    return buf.getvalue()


def unpack_folder(data: bytes, folder: str) -> None:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")


def _shard_table(ref: Any, columns: list[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from squall.batch.shards import IpcShard, ipc_source
    from squall.stages.urls import local_path, open_url

    if isinstance(ref, IpcShard):
        with ipc_source(ref.path) as source:
            table = pa.ipc.open_file(source).read_all()
        return table.select(columns) if columns is not None else table
    with contextlib.ExitStack() as stack:
        local = local_path(ref.path)
        source = local if local is not None else stack.enter_context(open_url(ref.path))
        reader = stack.enter_context(pq.ParquetFile(source))
        return reader.read_row_groups(list(ref.row_groups), columns=columns)


def shard_bytes(ref: Any) -> bytes:
    """A shard's rows as Arrow IPC file bytes."""
    from squall.batch.shards import IpcShard
    from squall.stages.urls import open_url

    if isinstance(ref, IpcShard):
        with open_url(ref.path) as fh:
            return bytes(fh.read())
    import pyarrow as pa

    table = _shard_table(ref)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _portable(exc: BaseException) -> BaseException:
    """``exc`` as an error that survives pickling: OS errors keep their type, others
    become an OSError naming theirs."""
    if type(exc) in (FileNotFoundError, IsADirectoryError, PermissionError):
        return type(exc)(str(exc))
    return OSError(f"{type(exc).__name__}: {exc}")


def shard_files(stages: Any, ref: Any, columns: list[str]) -> dict[str, bytes | BaseException]:
    """The bytes of every file the shard's rows name in ``columns``, by stage path; a file
    that cannot be read maps to its error."""
    table = _shard_table(ref, columns)
    out: dict[str, bytes | BaseException] = {}
    for column in columns:
        for path in table.column(column).to_pylist():
            if path is None or str(path) in out:
                continue
            try:
                stage, rel = stages.resolve(str(path))
                with stage.open(rel, "rb") as fh:
                    out[str(path)] = fh.read()
            except Exception as exc:
                out[str(path)] = _portable(exc)
    return out


class ShippedFiles:
    """Stands in for the workspace's stages on a worker that cannot see them: the files of
    each shard, written to a local folder when the shard arrives and removed after it."""

    def __init__(self, folder: str, output: tuple[str, str] | None = None) -> None:
        self.folder = folder
        self._files: dict[str, str | BaseException] = {}  # stage path -> local copy or error
        # The job's output location, and the local folder the worker writes its parts to.
        self._output = output
        os.makedirs(folder, exist_ok=True)

    def add(self, key: str, files: dict[str, bytes | BaseException]) -> None:
        """Keep one shard's files (``key`` names its attempt) until :meth:`drop`."""
        folder = os.path.join(self.folder, key)
        os.makedirs(folder, exist_ok=True)
        for i, (path, data) in enumerate(files.items()):
            if isinstance(data, BaseException):
                self._files[path] = data
                continue
            local = os.path.join(folder, str(i))
            with open(local, "wb") as fh:
                fh.write(data)
            self._files[path] = local

    def drop(self, prefix: str) -> None:
        """Forget the files of the shards whose key starts with ``prefix``."""
        for name in os.listdir(self.folder):
            if name.startswith(prefix):
                gone = os.path.join(self.folder, name)
                self._files = {
                    p: v
                    for p, v in self._files.items()
                    if not (isinstance(v, str) and v.startswith(gone + os.sep))
                }
                shutil.rmtree(gone, ignore_errors=True)

    # The calls of a StageManager and a Stage that file columns use; the output location
    # resolves to the worker's local output folder (see squall.batch.sink.PartSink.of_plan).
    def resolve(self, path: str) -> tuple[Any, str]:
        if self._output is not None and str(path) == self._output[0]:
            from squall.stages.internal import InternalStage

            return InternalStage.for_folder(self._output[1]), ""
        return self, str(path)

    def open(self, rel: str, mode: str = "rb") -> IO[Any]:
        found = self._files.get(rel)
        if found is None:
            raise FileNotFoundError(rel)
        if isinstance(found, BaseException):
            raise found
        return open(found, mode)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self.folder, ignore_errors=True)
