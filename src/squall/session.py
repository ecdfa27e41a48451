"""The workspace session: ``squall.connect(home)`` and the active session."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall.catalog import Catalog
from squall.config import default_home, prepare_workspace
from squall.errors import InvalidArgumentError
from squall.stages import StageFile, StageManager
from squall.warehouse import DataFrame, Warehouse

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DataFrameReader", "Session", "connect", "get_active_session"]

_active: Session | None = None
_lock = threading.Lock()


class DataFrameReader:
    """``session.read``: readers of files on stages."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def parquet(self, stage_path: str) -> DataFrame:
        """A DataFrame over the Parquet files at a stage path (a file or a folder)."""
        return self._session.warehouse.read_parquet(stage_path)

    def csv(self, path: str, **options: Any) -> DataFrame:
        """A DataFrame over CSV files: a stage path (file, folder, glob) or a local file or glob.

        ``options`` go to DuckDB's ``read_csv`` (``header=``, ``delim=``, ``columns=``, ...).
        """
        return self._session.warehouse.read_files(path, "csv", **options)

    def json(self, path: str, **options: Any) -> DataFrame:
        """A DataFrame over JSON or newline-delimited JSON files (options: DuckDB's ``read_json``)."""
        return self._session.warehouse.read_files(path, "json", **options)


class Session:
    """A connection to one workspace folder: its catalog, stages, warehouse and jobs."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home).expanduser().resolve()
        if self.home.exists() and not self.home.is_dir():
            raise InvalidArgumentError(f"workspace {self.home} exists and is not a folder")
        prepare_workspace(self.home)
        self.catalog = Catalog(self.home / "catalog.db")
        self.stages = StageManager(self.home, self.catalog)
        self.warehouse = Warehouse(self.home, self.stages)
        self.read = DataFrameReader(self)

    def __repr__(self) -> str:
        return f"Session(home={str(self.home)!r})"

    # -- stages ---------------------------------------------------------------------------
    def create_stage(
        self,
        name: str,
        url: str | None = None,
        storage_options: dict[str, Any] | None = None,
        encryption: str | None = None,
        kms_key_id: str | None = None,
        *,
        exists_ok: bool = False,
    ) -> Any:
        """Create a stage: internal (a folder of the workspace) or external on Amazon S3.

        For ``url="s3://bucket/prefix"``: ``storage_options`` go to s3fs (``endpoint_url``,
        ``key``, ``secret``, ...; without credentials the AWS credential chain applies),
        ``encryption`` is ``"AWS_SSE_S3"`` (the default) or ``"AWS_SSE_KMS"`` with an optional
        ``kms_key_id``. Credentials are kept in an owner-only file and shown masked.
        """
        return self.stages.create(
            name,
            url=url,
            storage_options=storage_options,
            encryption=encryption,
            kms_key_id=kms_key_id,
            exists_ok=exists_ok,
        )

    def drop_stage(self, name: str) -> None:
        """Drop a stage; an internal stage's files are deleted with it."""
        self.stages.drop(name)

    def list_stages(self) -> list[Any]:
        return self.stages.list()

    # -- compute pools --------------------------------------------------------------------
    def create_compute_pool(
        self,
        name: str,
        engine: str = "ray",
        address: str = "auto",
        *,
        shared_fs: bool = False,
        keep_warm_s: float = 0.0,
        exists_ok: bool = False,
    ) -> Any:
        """Record a compute pool: where ``run_batch(compute_pool=name)`` runs its workers.

        ``engine="ray"`` with the cluster's ``address`` (``ray://head:10001``,
        ``head:6379``, or ``auto``: ``RAY_ADDRESS`` or the local head). Nothing is
        contacted here; ``run_batch`` checks the pool before a job starts. ``shared_fs=True``:
        the cluster's nodes see this workspace's folder at the same path (workers read and
        write there directly); by default data travels through Ray's object store.
        ``keep_warm_s``: a job's workers stay up this many seconds after it, holding their
        resources, and the pool's next job with the same resources starts on them, its
        libraries already imported (0, the default: workers end with their job).
        """
        from squall.catalog.pools import create_pool

        return create_pool(
            self.catalog,
            name,
            engine,
            address,
            shared_fs=shared_fs,
            keep_warm_s=keep_warm_s,
            exists_ok=exists_ok,
        )

    def list_compute_pools(self) -> list[Any]:
        """``local`` (built in, the default) and the workspace's pools."""
        from squall.catalog.pools import list_pools

        return list_pools(self.catalog)

    def drop_compute_pool(self, name: str, *, missing_ok: bool = False) -> None:
        """Forget a compute pool (its cluster is left as it is)."""
        from squall.catalog.pools import drop_pool

        drop_pool(self.catalog, name, missing_ok=missing_ok)

    def put(self, local: str | os.PathLike[str], stage_path: str) -> list[StageFile]:
        """Upload a file, a folder or a glob of files to a stage path; returns what was uploaded."""
        return self.stages.put(str(local), stage_path)

    def get(self, stage_path: str, local_dir: str | os.PathLike[str]) -> list[str]:
        """Download the files under a stage path into a local folder."""
        return self.stages.get(stage_path, str(local_dir))

    def list_stage(self, stage_path: str, pattern: str | None = None) -> list[StageFile]:
        return self.stages.list_stage(stage_path, pattern=pattern)

    def remove(self, stage_path: str) -> list[str]:
        """Delete the files under a stage path; returns the stage paths removed."""
        return self.stages.remove(stage_path)

    # -- warehouse ------------------------------------------------------------------------
    def create_table(
        self, name: str, data: Any, mode: str = "overwrite", *, format: str | None = None
    ) -> DataFrame:
        """A table from a DataFrame, an Arrow table, or CSV/JSON/Parquet files (see Warehouse)."""
        self.warehouse.create_table(name, data, mode=mode, format=format)
        return self.warehouse.table(name)

    def sql(self, query: str) -> DataFrame:
        """A lazy DataFrame over a SQL query; it is run again at each action."""
        return self.warehouse.sql(query)

    def table(self, name: str) -> DataFrame:
        return self.warehouse.table(name)

    def create_dataframe(self, data: pa.Table | Any) -> DataFrame:
        return self.warehouse.create_dataframe(data)


def connect(home: str | os.PathLike[str] | None = None) -> Session:
    """Open (creating when missing) a workspace and make it the active session.

    ``home`` defaults to ``$SQUALL_HOME``, else ``~/.squall``.
    """
    global _active
    session = Session(home if home is not None else default_home())
    with _lock:
        _active = session
    return session


def get_active_session(session: Session | None = None) -> Session:
    """The given session, else the active one; raise when none was opened."""
    if session is not None:
        return session
    if _active is None:
        raise InvalidArgumentError("no active session: call squall.connect() first")
    return _active
