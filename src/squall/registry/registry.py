"""The model registry: log models into the workspace, find them, run them."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from squall.errors import AlreadyExistsError, InvalidArgumentError, ModelNotFoundError
from squall.names import resolve_name, show_name

if TYPE_CHECKING:
    from squall.batch.specs import InputSpec, JobSpec, OutputSpec
    from squall.jobs.job import Job
    from squall.model.packaging import Manifest
    from squall.session import Session

__all__ = ["Model", "ModelVersion", "Registry"]


class ModelVersion:
    """One stored version of a model: inspect it, run it in-process, or run a batch job."""

    def __init__(self, session: Session, row: dict[str, Any]) -> None:
        self._session = session
        #: Names as upstream shows them: unquoted ones upper-case, quoted ones in quotes.
        self.model_name: str = show_name(row["model"])
        self.version_name: str = show_name(row["version"])
        self.path = Path(row["path"])
        self.model_type: str = row["model_type"]
        self.comment: str | None = row["comment"]
        self._loaded: Any = None

    def __repr__(self) -> str:
        return f"ModelVersion(model={self.model_name!r}, version={self.version_name!r}, type={self.model_type!r})"

    @property
    def manifest(self) -> Manifest:
        from squall.model.packaging import read_manifest

        return read_manifest(self.path)

    def show_functions(self) -> list[dict[str, Any]]:
        """Each callable function: its name, kind and signature."""
        return [
            {"name": f.name, "kind": f.kind, "signature": f.signature}
            for f in self.manifest.functions.values()
        ]

    def get_signatures(self) -> dict[str, Any]:
        return {f.name: f.signature for f in self.manifest.functions.values()}

    def run(
        self,
        X: Any,
        *,
        function_name: str | None = None,
        params: dict[str, Any] | None = None,
        partition_column: str | None = None,
    ) -> pd.DataFrame:
        """Call the model in this process on a pandas DataFrame (or anything run_batch takes).

        With ``partition_column``, the function is called once per partition, as in a
        partitioned batch job (see docs/partitioning.md).
        """
        from squall.model.packaging import load_model

        if self._loaded is None:
            self._loaded = load_model(self.path)
            use_stages = getattr(self._loaded.model, "use_stages", None)
            if callable(use_stages):  # rows may name files on stages (a chat image_url)
                from squall.config import settings

                use_stages(self._session.stages, settings().file_fetch_bytes)
        manifest = self._loaded.manifest
        function = manifest.resolve_function(function_name)
        frame = _to_pandas(X)
        if partition_column is not None:
            from squall.batch.partitioned import run_in_process

            return run_in_process(
                self._loaded, function, manifest.options, frame, params, partition_column
            )
        return self._loaded.call(function.name, frame, params)

    def run_batch(
        self,
        X: Any,
        compute_pool: str | None = None,
        input_spec: InputSpec | None = None,
        output_spec: OutputSpec | None = None,
        job_spec: JobSpec | None = None,
        inference_engine_options: dict[str, Any] | None = None,
    ) -> Job:
        """Run the model over X as an asynchronous batch job writing Parquet to a stage."""
        from squall.batch.specs import OutputSpec
        from squall.errors import InvalidSpecError
        from squall.jobs.submit import submit_batch
        from squall.model.inference_engine import InferenceEngine, parse_engine_options

        if output_spec is None:
            raise InvalidSpecError(
                "run_batch needs output_spec=OutputSpec(stage_location='@stage/path/') "
                "or OutputSpec(base_stage_location=...)"
            )
        if not isinstance(output_spec, OutputSpec):
            raise InvalidSpecError(f"output_spec must be an OutputSpec, not {output_spec!r}")
        engine = parse_engine_options(inference_engine_options)
        # PYTHON_GENERIC is how squall runs every model: asking for it changes nothing.
        engine_args = None
        if engine is not None and engine[0] is InferenceEngine.VLLM:
            engine_args = self._vllm_args(engine[1], job_spec)
        elif engine is not None and engine[0] is not InferenceEngine.PYTHON_GENERIC:
            raise InvalidSpecError(
                f"inference engine {engine[0].value!r} is not available for model "
                f"{self.model_name} ({self.model_type})"
            )
        return submit_batch(
            self._session,
            model_name=self.model_name,
            version_name=self.version_name,
            model_path=self.path,
            X=X,
            compute_pool=compute_pool,
            input_spec=input_spec,
            output_spec=output_spec,
            job_spec=job_spec,
            engine_args=engine_args,
        )

    def _vllm_args(self, override: list[str], job_spec: JobSpec | None) -> list[str]:
        """The vLLM engine's arguments for this version, checked before any work."""
        from squall.model.handlers._hf_signatures import is_chat_signature
        from squall.model.handlers._vllm import check_request

        functions = list(self.manifest.functions.values())
        takes_messages = len(functions) == 1 and is_chat_signature(functions[0].signature)
        gpus = job_spec.gpu_requests if job_spec is not None else None
        return check_request(
            self.path,
            self.model_type,
            takes_messages,
            override,
            int(gpus) if gpus is not None else None,
            f"{self.model_name} version {self.version_name}",
        )


def _to_pandas(X: Any) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    from squall.warehouse import DataFrame

    if isinstance(X, DataFrame):
        return X.to_pandas()
    if hasattr(X, "to_pandas"):
        return X.to_pandas()
    raise InvalidArgumentError(
        f"cannot run a model on a {type(X).__name__}; pass a pandas DataFrame"
    )


def _free_from_jobs(session: Session, what: str, force: bool, uses: Any) -> None:
    """Refuse, or with ``force`` cancel, the live jobs whose model path satisfies ``uses``."""
    from squall.batch.plan import JobPlan
    from squall.errors import JobStateError
    from squall.jobs import status as st
    from squall.jobs.job import Job
    from squall.jobs.store import JobStore

    catalog = session.catalog
    running = []
    for row in JobStore.on(catalog).active_jobs():
        if not uses(JobPlan.from_json(row["spec"]).model_path):
            continue
        if st.check_liveness(catalog, row)["status"] in st.ACTIVE:
            running.append(Job(session, row["id"]))
    if not running:
        return
    names = ", ".join(job.name for job in running)
    if not force:
        raise JobStateError(
            f"cannot delete {what}: job(s) {names} use it and have not ended; cancel them "
            "first, or pass force=True to cancel them"
        )
    for job in running:
        job.cancel()
    for job in running:
        job.wait()


class Model:
    """A named model and its versions."""

    def __init__(self, session: Session, row: dict[str, Any]) -> None:
        self._session = session
        self._key: str = row["name"]
        self.name: str = show_name(self._key)
        self.comment: str | None = row["comment"]

    def __repr__(self) -> str:
        return f"Model(name={self.name!r})"

    def _version_rows(self) -> list[dict[str, Any]]:
        return self._session.catalog.query(
            "SELECT v.* FROM versions v WHERE v.model = ? ORDER BY v.created",
            (self._key,),
        )

    def versions(self) -> list[ModelVersion]:
        return [ModelVersion(self._session, r) for r in self._version_rows()]

    def version(self, version_name: str) -> ModelVersion:
        key = resolve_name(version_name, "version_name")
        rows = self._version_rows()
        for r in rows:
            if r["version"] == key:
                return ModelVersion(self._session, r)
        names = ", ".join(show_name(r["version"]) for r in rows) or "none"
        raise ModelNotFoundError(
            f"model {self.name} has no version {version_name!r}; versions: {names}"
        )

    @property
    def default(self) -> ModelVersion:
        row = self._session.catalog.query_one(
            "SELECT default_version FROM models WHERE name = ?", (self._key,)
        )
        if row is None or row["default_version"] is None:
            raise ModelNotFoundError(f"model {self.name} has no versions")
        return self.version(show_name(row["default_version"]))

    @default.setter
    def default(self, version: str | ModelVersion) -> None:
        name = version.version_name if isinstance(version, ModelVersion) else version
        mv = self.version(name)
        self._session.catalog.execute(
            "UPDATE models SET default_version = ? WHERE name = ?",
            (resolve_name(mv.version_name, "version_name"), self._key),
        )

    def show_versions(self) -> pd.DataFrame:
        default = self._session.catalog.query_one(
            "SELECT default_version FROM models WHERE name = ?", (self._key,)
        )
        records = [
            {
                "name": show_name(r["version"]),
                "model_type": r["model_type"],
                "functions": ", ".join(json.loads(r["functions"])),
                "is_default": default is not None and r["version"] == default["default_version"],
                "comment": r["comment"],
                "created_on": pd.Timestamp(r["created"], unit="s"),
            }
            for r in self._version_rows()
        ]
        return pd.DataFrame.from_records(
            records,
            columns=["name", "model_type", "functions", "is_default", "comment", "created_on"],
        )

    def delete_version(self, version_name: str, *, force: bool = False) -> None:
        """Delete a version and its stored files.

        Refused (``JobStateError`` naming the jobs) while a job that has not ended runs the
        version; ``force=True`` cancels those jobs first and waits for them to end.
        """
        mv = self.version(version_name)
        _free_from_jobs(
            self._session,
            f"model {self.name} version {mv.version_name}",
            force,
            lambda path: Path(path) == mv.path,
        )
        vkey = resolve_name(mv.version_name, "version_name")
        with self._session.catalog.connect() as con:
            con.execute(
                "DELETE FROM versions WHERE model = ? AND version = ?",
                (self._key, vkey),
            )
            con.execute(
                "UPDATE models SET default_version = (SELECT version FROM versions WHERE model = ? "
                "ORDER BY created DESC LIMIT 1) WHERE name = ? AND default_version = ?",
                (self._key, self._key, vkey),
            )
        shutil.rmtree(mv.path, ignore_errors=True)


class Registry:
    """The model registry of a session's workspace."""

    def __init__(self, session: Session | None = None) -> None:
        from squall.session import get_active_session

        self._session = get_active_session(session)

    def log_model(
        self,
        model: Any,
        *,
        model_name: str,
        version_name: str | None = None,
        sample_input_data: Any = None,
        signatures: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        pip_requirements: list[str] | None = None,
        conda_dependencies: list[str] | None = None,
        comment: str | None = None,
        target_platforms: Any = None,
    ) -> ModelVersion:
        """Store a model version in the workspace; it becomes the default if it is the first."""
        from squall.model.packaging import save_model

        key = resolve_name(model_name, "model_name")
        catalog = self._session.catalog
        if version_name is None:
            count = catalog.query_one("SELECT COUNT(*) AS n FROM versions WHERE model = ?", (key,))
            n = (count["n"] if count else 0) + 1
            version_name = f"V{n}"
            while catalog.query_one(
                "SELECT 1 FROM versions WHERE model = ? AND version = ?", (key, version_name)
            ):
                n += 1
                version_name = f"V{n}"
        vkey = resolve_name(version_name, "version_name")
        if catalog.query_one("SELECT 1 FROM versions WHERE model = ? AND version = ?", (key, vkey)):
            raise AlreadyExistsError(
                f"model {show_name(key)} already has a version {show_name(vkey)}"
            )
        folder = self._session.home / "models" / key / vkey
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        try:
            manifest = save_model(
                model,
                folder,
                sample_input_data=sample_input_data,
                signatures=signatures,
                options=options,
                pip_requirements=pip_requirements,
                comment=comment,
            )
            now = time.time()
            with catalog.connect() as con:
                con.execute(
                    "INSERT INTO models (name, display_name, default_version, comment, created) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name) DO NOTHING",
                    (key, show_name(key), vkey, comment, now),
                )
                con.execute(
                    "INSERT INTO versions (model, version, display_name, path, model_type, functions, comment, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        key,
                        vkey,
                        show_name(vkey),
                        str(folder),
                        manifest.model_type,
                        json.dumps(list(manifest.functions)),
                        comment,
                        now,
                    ),
                )
                con.execute(
                    "UPDATE models SET default_version = COALESCE(default_version, ?) WHERE name = ?",
                    (vkey, key),
                )
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self.get_model(show_name(key)).version(show_name(vkey))

    def get_model(self, model_name: str) -> Model:
        row = self._session.catalog.query_one(
            "SELECT * FROM models WHERE name = ?", (resolve_name(model_name, "model_name"),)
        )
        if row is None:
            names = [
                show_name(r["name"])
                for r in self._session.catalog.query("SELECT name FROM models ORDER BY name")
            ]
            raise ModelNotFoundError(
                f"no model named {model_name!r}; models: {', '.join(names) if names else 'none'}"
            )
        return Model(self._session, row)

    def models(self) -> list[Model]:
        return [
            Model(self._session, r)
            for r in self._session.catalog.query("SELECT * FROM models ORDER BY name")
        ]

    def show_models(self) -> pd.DataFrame:
        rows = self._session.catalog.query(
            "SELECT m.name, m.default_version, m.comment, m.created, "
            "(SELECT json_group_array(version) FROM "
            " (SELECT version FROM versions v WHERE v.model = m.name ORDER BY created)) AS versions "
            "FROM models m ORDER BY m.name"
        )
        for r in rows:
            r["name"] = show_name(r["name"])
            r["versions"] = ", ".join(show_name(v) for v in json.loads(r["versions"] or "[]"))
            if r["default_version"] is not None:
                r["default_version"] = show_name(r["default_version"])
            r["created_on"] = pd.Timestamp(r.pop("created"), unit="s")
        return pd.DataFrame.from_records(
            rows, columns=["name", "versions", "default_version", "comment", "created_on"]
        )

    def delete_model(self, model_name: str, *, force: bool = False) -> None:
        """Delete a model, every version of it, and their stored files.

        Refused (``JobStateError`` naming the jobs) while a job that has not ended runs one
        of its versions; ``force=True`` cancels those jobs first and waits for them to end.
        """
        model = self.get_model(model_name)
        folder = self._session.home / "models" / model._key
        _free_from_jobs(
            self._session, f"model {model.name}", force, lambda path: Path(path).parent == folder
        )
        self._session.catalog.execute("DELETE FROM models WHERE name = ?", (model._key,))
        shutil.rmtree(self._session.home / "models" / model._key, ignore_errors=True)
