"""The ``squall`` command: a thin shell over the Python API.

squall [--home DIR] demo
squall stage ls|create|put|get|rm|drop ...
squall model ls [NAME]
squall run MODEL[:VERSION] (--sql Q | --table T | --files @stage/path) --output @stage/path/
squall jobs ls|show|logs|wait|cancel|resume|delete ...
squall compute-pool ls|create|drop ...   (where jobs run: local, or a Ray cluster)
squall warm-pool status|stop   (the local warm pool; `squall pool` is its old name)
squall dag ls|show|run|runs|cancel|suspend|resume|drop ...   (cli/dag.py)
squall scheduler [--detach] | status | stop
squall ui [--port 8765] [--open]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from squall.cli.output import print_json, print_table, progress_bar
from squall.jobs.status import FINAL

__all__ = ["main"]


def _session(args: argparse.Namespace, *, reads_only: bool = False) -> Any:
    """The workspace session; a command that only reads refuses a folder that is no workspace."""
    import squall

    if reads_only:
        from squall.config import default_home, is_workspace

        home = args.home if args.home is not None else default_home()
        if not is_workspace(home):
            raise SystemExit(
                f"error: no squall workspace at {home}; `squall init {home}` creates one"
            )
    return squall.connect(args.home)


def _records(df: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in df.to_dict(orient="records")]


# -- stage ------------------------------------------------------------------------------
def _options(pairs: list[str] | None) -> dict[str, Any] | None:
    """``--option KEY=VALUE`` pairs as storage_options; ``{...}``, true/false parsed as JSON."""
    if not pairs:
        return None
    options: dict[str, Any] = {}
    for pair in pairs:
        name, eq, value = pair.partition("=")
        if not eq or not name:
            raise SystemExit(f"error: --option takes KEY=VALUE, not {name or pair!r}")
        text = value.strip()
        parsed: Any = value
        if text.startswith(("{", "[")) or text in ("true", "false"):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise SystemExit(f"error: --option {name}: the value is not valid JSON") from None
        options[name] = parsed
    return options


def cmd_stage(args: argparse.Namespace) -> int:
    s = _session(args, reads_only=args.action in ("ls", "get"))
    if args.action == "ls":
        if args.path is None:
            cols = ["name", "kind", "url", "encryption"]
            infos = s.list_stages()
            if args.json:  # storage options as recorded: credentials masked
                more = ["kms_key_id", "storage_options"]
                print_json([{c: getattr(i, c) for c in cols + more} for i in infos])
            else:
                print_table([{c: getattr(i, c) for c in cols} for i in infos], cols)
            return 0
        files = s.list_stage(args.path, pattern=args.pattern)
        rows = [{"path": f.path, "size": f.size, "last_modified": f.last_modified} for f in files]
        print_json(rows) if args.json else print_table(rows, ["path", "size", "last_modified"])
    elif args.action == "create":
        info = s.create_stage(
            args.name,
            url=args.url,
            storage_options=_options(args.option),
            encryption=args.encryption,
            kms_key_id=args.kms_key_id,
            exists_ok=args.exists_ok,
        )
        where = f" on {info.url} ({info.encryption})" if info.url else ""
        shown = ", ".join(f"{k}={v}" for k, v in sorted(info.storage_options.items()))
        print(f"stage @{info.name} created{where}" + (f"; options: {shown}" if shown else ""))
    elif args.action == "put":
        done = s.put(args.local, args.path)
        for f in done:
            print(f"uploaded {f.path} ({f.size:,} bytes)")
    elif args.action == "get":
        for p in s.get(args.path, args.local):
            print(f"downloaded {p}")
    elif args.action == "rm":
        for p in s.remove(args.path):
            print(f"removed {p}")
    elif args.action == "drop":
        s.drop_stage(args.name)
        print(f"stage @{args.name.lower()} dropped")
    return 0


# -- model ------------------------------------------------------------------------------
def cmd_model(args: argparse.Namespace) -> int:
    from squall.registry import Registry

    reg = Registry(_session(args, reads_only=True))
    if args.name is None:
        df = reg.show_models()
        cols = ["name", "versions", "default_version", "comment", "created_on"]
    else:
        df = reg.get_model(args.name).show_versions()
        cols = ["name", "model_type", "functions", "is_default", "comment", "created_on"]
    rows = _records(df)
    print_json(rows) if args.json else print_table(rows, cols)
    return 0


# -- run --------------------------------------------------------------------------------
def _parse_param(text: str) -> tuple[str, Any]:
    import json

    if "=" not in text:
        raise SystemExit(f"--param {text!r}: expected NAME=VALUE")
    key, raw = text.split("=", 1)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key, value


def cmd_run(args: argparse.Namespace) -> int:
    import squall
    from squall.batch import FileEncoding, InputFormat
    from squall.errors import InvalidSpecError
    from squall.registry import Registry

    s = _session(args)
    name, _, version = args.model.partition(":")
    model = Registry(s).get_model(name)
    mv = model.version(version) if version else model.default
    handling = None
    if args.sql:
        X = s.sql(args.sql)
    elif args.table:
        X = s.table(args.table)
    else:
        X = squall.list_stage_files(args.files, pattern=args.pattern, column_name=args.file_column)
        handling = {
            args.file_column: {
                "input_format": InputFormat.FULL_STAGE_PATH,
                "convert_to": FileEncoding.parse(args.encoding, "encoding"),
            }
        }
    params = dict(_parse_param(p) for p in args.param or [])
    try:
        job = _run_batch(mv, X, args, params, handling)
    except InvalidSpecError as exc:
        wanted = re.search(r"model input '([^']+)' is not a column", str(exc))
        if args.files and wanted:
            raise SystemExit(
                f"error: the model reads its files from column {wanted.group(1)!r}, and "
                f"--files names them {args.file_column!r}: pass --file-column "
                f"{wanted.group(1)}"
            ) from None
        raise
    print(job.name, flush=True)
    return _wait(job, None) if args.wait else 0


def _run_batch(
    mv: Any, X: Any, args: argparse.Namespace, params: dict[str, Any], handling: Any
) -> Any:
    from squall.batch import InputSpec, JobSpec, OutputSpec, SaveMode

    return mv.run_batch(
        X,
        compute_pool=args.compute_pool,
        input_spec=InputSpec(params=params or None, column_handling=handling),
        output_spec=OutputSpec(stage_location=args.output, mode=SaveMode.parse(args.mode, "mode")),
        job_spec=JobSpec(
            job_name=args.name,
            function_name=args.function,
            num_workers=args.workers,
            max_batch_rows=args.batch_rows,
            **_run_options(args),
        ),
    )


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The JobSpec fields given on the command line (the others keep JobSpec's defaults)."""
    given = {
        "shard_rows": args.shard_rows,
        "on_error": args.on_error,
        "max_retries": args.max_retries,
        "max_error_rate": args.max_error_rate,
    }
    return {k: v for k, v in given.items() if v is not None}


# -- jobs -------------------------------------------------------------------------------
def cmd_jobs(args: argparse.Namespace) -> int:
    from squall import jobs

    s = _session(args, reads_only=args.action in _READING_JOB_ACTIONS)
    if args.action == "ls":
        df = jobs.list_jobs(limit=args.limit, status=args.status, session=s)
        rows = _records(df)
        cols = [
            "name",
            "status",
            "model",
            "version",
            "rows_done",
            "rows_total",
            "compute_pool",
            "created_time",
            "message",
        ]
        print_json(rows) if args.json else print_table(rows, cols)
        return 0
    job = _job(args, s)
    if args.action == "show":
        info = job.info()
        info["progress"] = str(job.progress)
        for key, value in info.items():
            if key.endswith("_time") and isinstance(value, int | float):
                info[key] = _local_time(value)
        if args.json:
            print_json(info)
        else:
            for key, value in info.items():
                print(f"{key:>18}: {'' if value is None else value}")
        return 0
    if args.action == "logs":
        return _follow_logs(job) if args.follow else (print(job.get_logs(limit=args.limit)) or 0)
    if args.action == "wait":
        return _wait(job, args.timeout)
    if args.action == "cancel":
        before = job.status
        if before in FINAL:
            print(f"{job.name} already ended {before}; nothing to cancel")
            return 0
        status = job.cancel()
        if status not in FINAL:
            status = job.wait(timeout=args.timeout)
        print(f"{job.name} {status} {job.message or ''}".rstrip())
        return 0 if status == "CANCELLED" else 1
    if args.action == "resume":
        print(f"{job.name} {job.resume()}")
        return _wait(job, None) if args.wait else 0
    if args.action == "delete":
        jobs.delete_job(job, session=s)
        print(f"{job.name} deleted")
        return 0
    raise AssertionError(args.action)


_READING_JOB_ACTIONS = frozenset({"ls", "show", "logs", "wait"})


def _job(args: argparse.Namespace, session: Any) -> Any:
    """The job a command names: a name, a unique prefix of one, or ``--last``."""
    from squall.jobs.manage import find_job, last_job

    if args.last:
        if args.name is not None:
            raise SystemExit("error: give a job name or --last, not both")
        return last_job(session)
    if args.name is None:
        raise SystemExit("error: name a job (a unique prefix is enough), or pass --last")
    return find_job(args.name, session)


def _local_time(epoch: float) -> str:
    """Seconds since the epoch as a local ISO timestamp, to the second."""
    import datetime as dt

    return dt.datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")


def _follow_logs(job: Any) -> int:
    """Print the job's log lines as they are written, until the job ends."""
    import time

    from squall.jobs.logs import LogTail

    tail = LogTail(job.scratch_dir / "logs")
    while True:
        final = job.status in FINAL
        if final:
            _supervisor_gone(job.info().get("supervisor_pid"))  # its last lines are written
        for line in tail.read_new(final=final):
            print(line, flush=True)
        if final:
            return 0
        time.sleep(0.25)


def _supervisor_gone(pid: int | None, timeout: float = 5.0) -> None:
    """Wait (briefly) for a job's supervisor to exit: it logs its last line after the end."""
    import time

    import psutil

    deadline = time.monotonic() + timeout
    while pid and time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


def _wait(job: Any, timeout: float | None) -> int:
    """Show the job's progress until it ends; exit code 0 only when it ended DONE."""
    try:
        status = progress_bar(job, timeout=timeout)
    except KeyboardInterrupt:
        print(
            f"\nstopped watching; {job.name} goes on (squall jobs cancel {job.name} stops it)",
            file=sys.stderr,
        )
        return 130
    print(f"{job.name} {status} {job.message or ''}".rstrip())
    return 0 if status == "DONE" else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="squall", description="Local-first batch inference.")
    p.add_argument(
        "--home", default=None, help="workspace folder (default: $SQUALL_HOME or ~/.squall)"
    )
    sub = p.add_subparsers(dest="command", required=True)

    i = sub.add_parser("init", help="create a workspace: squall init [DIR]")
    i.add_argument(
        "folder", nargs="?", help="the folder (default: --home, $SQUALL_HOME, ~/.squall)"
    )
    i.set_defaults(func=cmd_init)

    d = sub.add_parser("demo", help="run a real batch job on a demo workspace")
    d.add_argument("--rows", type=int, default=200_000)
    d.set_defaults(
        func=lambda a: __import__("squall.cli.demo", fromlist=["run_demo"]).run_demo(
            a.home or ".squall-demo", a.rows
        )
    )

    st = sub.add_parser("stage", help="stages and their files")
    st_sub = st.add_subparsers(dest="action", required=True)
    x = st_sub.add_parser("ls", help="list stages, or the files under a stage path")
    x.add_argument("path", nargs="?")
    x.add_argument("--pattern")
    x.add_argument("--json", action="store_true")
    x = st_sub.add_parser("create", help="create a stage")
    x.add_argument("name")
    x.add_argument("--url", help="s3://bucket/prefix for an external stage; none: internal")
    x.add_argument("--encryption", help="AWS_SSE_S3 (default for S3) or AWS_SSE_KMS")
    x.add_argument("--kms-key-id", help="the KMS key for AWS_SSE_KMS")
    x.add_argument(
        "--option",
        action="append",
        metavar="KEY=VALUE",
        help="a storage option (endpoint_url=..., key=..., secret=...), repeatable",
    )
    x.add_argument("--exists-ok", action="store_true")
    x = st_sub.add_parser("put", help="upload files: squall stage put LOCAL @stage/path/")
    x.add_argument("local")
    x.add_argument("path")
    x = st_sub.add_parser("get", help="download files: squall stage get @stage/path/ LOCAL_DIR")
    x.add_argument("path")
    x.add_argument("local")
    x = st_sub.add_parser("rm", help="remove the files under a stage path")
    x.add_argument("path")
    x = st_sub.add_parser("drop", help="drop a stage")
    x.add_argument("name")
    st.set_defaults(func=cmd_stage)

    m = sub.add_parser("model", help="registered models")
    m_sub = m.add_subparsers(dest="action", required=True)
    x = m_sub.add_parser("ls", help="list models, or the versions of one")
    x.add_argument("name", nargs="?")
    x.add_argument("--json", action="store_true")
    m.set_defaults(func=cmd_model)

    r = sub.add_parser("run", help="start a batch job")
    r.add_argument("model", help="MODEL or MODEL:VERSION")
    src = r.add_mutually_exclusive_group(required=True)
    src.add_argument("--sql")
    src.add_argument("--table")
    src.add_argument("--files", help="@stage/path: the files under it, one row each")
    r.add_argument("--pattern", help="with --files: a regex the paths must match")
    r.add_argument("--file-column", default="FILE_PATH")
    r.add_argument("--encoding", default="raw_bytes", help="raw_bytes, base64 or base64_data_url")
    r.add_argument("--output", required=True, help="@stage/path/ for the Parquet output")
    r.add_argument("--mode", default="error", help="error (default) or overwrite")
    r.add_argument("--param", action="append", help="NAME=VALUE (JSON values parsed), repeatable")
    r.add_argument("--function")
    r.add_argument("--name", help="job name")
    r.add_argument("--workers", type=int)
    r.add_argument("--batch-rows", type=int)
    r.add_argument("--shard-rows", type=int, help="rows per shard (default: sized from the input)")
    r.add_argument("--on-error", help="what a failing row does: fail (default) or continue")
    r.add_argument("--max-retries", type=int, help="times a failed shard is tried again")
    r.add_argument(
        "--max-error-rate", type=float, help="with --on-error continue: the most bad rows, 0-1"
    )
    r.add_argument("--pool", "--compute-pool", dest="compute_pool", help="compute pool name")
    r.add_argument("--wait", action="store_true", help="show progress until the job ends")
    r.set_defaults(func=cmd_run)

    j = sub.add_parser("jobs", help="batch jobs")
    j_sub = j.add_subparsers(dest="action", required=True)
    x = j_sub.add_parser("ls", help="list jobs, newest first")
    x.add_argument("--status")
    x.add_argument("--limit", type=int, default=20)
    x.add_argument("--json", action="store_true")
    for action, text in (
        ("show", "a job's record and progress"),
        ("logs", "a job's logs"),
        ("wait", "wait for a job, with a progress bar"),
        ("cancel", "cancel a job"),
        ("resume", "resume a FAILED, CANCELLED or INTERNAL_ERROR job"),
        ("delete", "delete a job's record and scratch files"),
    ):
        x = j_sub.add_parser(action, help=text)
        x.add_argument("name", nargs="?", help="the job's name, or a unique prefix of it")
        x.add_argument("--last", action="store_true", help="the newest job")
        if action == "show":
            x.add_argument("--json", action="store_true")
        if action == "logs":
            x.add_argument("--follow", "-f", action="store_true")
            x.add_argument("--limit", type=int, default=-1)
        if action == "cancel":
            x.add_argument(
                "--timeout", type=float, default=60, help="seconds to wait for CANCELLED"
            )
        if action == "wait":
            x.add_argument("--timeout", type=float, default=None, help="give up after SECONDS")
        if action == "resume":
            x.add_argument("--wait", action="store_true", help="show progress until it ends")
    j.set_defaults(func=cmd_jobs)

    from squall.cli import dag, pools, table

    pools.register(sub)
    table.register(sub)
    dag.register(sub)

    from squall.cli.ui import add_parser as add_ui

    add_ui(sub)
    return p


# Advice written for Python users, as a command-line user acts on it.
_CLI_WORDS = (
    ("mode=SaveMode.OVERWRITE", "--mode overwrite"),
    ("SaveMode.OVERWRITE", "--mode overwrite"),
    ("mode='overwrite'", "--mode overwrite"),
    ("mode='append'", "a table append from Python"),
    ("pass function_name", "pass --function NAME"),
    ("function_name ", "--function "),
    ("(job.cancel())", "(squall jobs cancel NAME)"),
    ("JobSpec.num_workers", "--workers"),
    ("JobSpec.max_batch_rows", "--batch-rows"),
    ("JobSpec.shard_rows", "--shard-rows"),
    ("JobSpec.max_retries", "--max-retries"),
    ("JobSpec.on_error", "--on-error"),
    ("JobSpec.max_error_rate", "--max-error-rate"),
    ("on_error='continue'", "--on-error continue"),
    ("JobSpec.job_name", "--name"),
    ("squall.connect()", "--home DIR"),
    ("X has columns", "the input has columns"),
    ("columns of X", "columns of the input"),
    (" of X", " of the input"),
    ("rows of X", "rows of the input"),
)


def cli_message(text: str) -> str:
    """An error message with its Python advice put in command-line terms."""
    for python, cli in _CLI_WORDS:
        text = text.replace(python, cli)
    return text


def cmd_init(args: argparse.Namespace) -> int:
    """Create a workspace (or say that the folder is one already)."""
    from pathlib import Path

    import squall
    from squall.config import default_home, is_workspace

    folder = args.folder or args.home
    home = Path(folder).expanduser() if folder is not None else default_home()
    existed = is_workspace(home)
    squall.connect(home)
    print(f"{'squall workspace at' if existed else 'created squall workspace at'} {home}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import duckdb

    from squall.errors import SquallError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SquallError, OSError, duckdb.Error) as exc:  # OSError: missing files, S3 denied...
        _print_error(exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except (ValueError, TypeError, LookupError, RuntimeError) as exc:
        _print_error(exc)  # a bad value from deeper down: still one line, never a traceback
        return 1


def _print_error(exc: BaseException) -> None:
    from squall.errors import redact

    text = " ".join(str(exc).split()) or type(exc).__name__
    print(f"error: {cli_message(redact(text))}", file=sys.stderr)
