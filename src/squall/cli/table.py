"""``squall table ...``: the warehouse's tables, from a file to a table the CLI can run on.

squall table ls | create NAME --from FILE_OR_STAGE_PATH [--format F] [--mode M]
squall table show NAME [--limit N] | drop NAME
"""

from __future__ import annotations

import argparse
from typing import Any

from squall.cli.output import print_json, print_table

__all__ = ["register"]


def cmd_table(args: argparse.Namespace) -> int:
    from squall.cli import _session

    s = _session(args, reads_only=args.action in ("ls", "show"))
    if args.action == "ls":
        names = s.warehouse.list_tables()
        rows = [{"name": n} for n in names]
        print_json(rows) if args.json else print_table(rows, ["name"])
    elif args.action == "create":
        df = s.create_table(args.name, args.source, mode=args.mode, format=args.format)
        print(
            f"table {args.name.upper()} {(args.mode == 'append' and 'now has') or 'created with'} "
            f"{df.count():,} rows"
        )
    elif args.action == "show":
        df = s.table(args.name)
        if args.json:
            print_json(_records(df.limit(args.limit).to_arrow().to_pylist()))
        else:
            print(df.describe_text(args.limit))
    elif args.action == "drop":
        s.warehouse.drop_table(args.name)
        print(f"table {args.name.upper()} dropped")
    return 0


def _records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            k: v if isinstance(v, int | float | str | bool) or v is None else str(v)
            for k, v in r.items()
        }
        for r in rows
    ]


def register(sub: Any) -> None:
    t = sub.add_parser("table", help="warehouse tables")
    t_sub = t.add_subparsers(dest="action", required=True)
    x = t_sub.add_parser("ls", help="list the tables")
    x.add_argument("--json", action="store_true")
    x = t_sub.add_parser("create", help="create a table from a file: CSV, JSON or Parquet")
    x.add_argument("name")
    x.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="FILE_OR_STAGE_PATH",
        help="a local file or glob, or @stage/path (a file, a folder of Parquet, a glob)",
    )
    x.add_argument("--format", help="csv, json or parquet (default: from the extension)")
    x.add_argument("--mode", default="error", help="error (default), overwrite or append")
    x = t_sub.add_parser("show", help="a table's first rows and its columns")
    x.add_argument("name")
    x.add_argument("--limit", type=int, default=10)
    x.add_argument("--json", action="store_true")
    x = t_sub.add_parser("drop", help="drop a table")
    x.add_argument("name")
    t.set_defaults(func=cmd_table)
