"""``squall compute-pool`` (where jobs run) and ``squall warm-pool`` (the local pool that
forks job workers): two different things, named so they cannot be confused."""

from __future__ import annotations

import argparse
import sys

from squall.cli.output import print_json, print_table

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``compute-pool`` and ``warm-pool`` commands (and the old ``pool`` spelling)."""
    for name, text in (
        ("warm-pool", "the local warm pool that forks job workers"),
        ("pool", "old name of warm-pool (deprecated)"),
    ):
        w = sub.add_parser(name, help=text)
        w_sub = w.add_subparsers(dest="action", required=True)
        x = w_sub.add_parser("status", help="whether a warm pool runs, and what it holds")
        x.add_argument("--json", action="store_true")
        x = w_sub.add_parser("stop", help="stop the warm pool once its running workers end")
        x.add_argument("--timeout", type=float, default=60, help="seconds to wait for it to exit")
        w.set_defaults(func=cmd_pool)

    c = sub.add_parser("compute-pool", help="compute pools: where jobs run (local, Ray)")
    c_sub = c.add_subparsers(dest="action", required=True)
    x = c_sub.add_parser("ls", help="list compute pools")
    x.add_argument("--json", action="store_true")
    x = c_sub.add_parser("create", help="record a compute pool")
    x.add_argument("name")
    x.add_argument("--engine", default="ray")
    x.add_argument("--address", default="auto", help="ray://HOST:10001, HOST:6379 or auto")
    x.add_argument(
        "--shared-fs",
        action="store_true",
        help="the cluster's nodes see this workspace's folder at the same path",
    )
    x.add_argument(
        "--keep-warm",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="workers stay up this long after a job, holding their resources, for the next",
    )
    x = c_sub.add_parser("drop", help="forget a compute pool")
    x.add_argument("name")
    c.set_defaults(func=cmd_compute_pool)


def cmd_compute_pool(args: argparse.Namespace) -> int:
    """Compute pools: where a job's workers run (``local``, or a Ray cluster)."""
    from squall.cli import _session

    s = _session(args)
    if args.action == "create":
        pool = s.create_compute_pool(
            args.name,
            args.engine,
            args.address,
            shared_fs=args.shared_fs,
            keep_warm_s=args.keep_warm,
        )
        print(f"compute pool {pool.name} created ({pool.engine} at {pool.address})")
        return 0
    if args.action == "drop":
        s.drop_compute_pool(args.name)
        print(f"compute pool {args.name.lower()} dropped")
        return 0
    rows = [
        {
            "name": p.name,
            "engine": p.engine,
            "address": p.address or "this machine",
            "shared_fs": bool(p.options.get("shared_fs", p.engine == "local")),
            "keep_warm_s": float(p.options.get("keep_warm_s", 0.0)),
        }
        for p in s.list_compute_pools()
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(rows, ["name", "engine", "address", "shared_fs", "keep_warm_s"])
    return 0


def cmd_pool(args: argparse.Namespace) -> int:
    """The warm pool (compute/warm.py): it is per user and Python, not per workspace."""
    import time

    from squall.compute import warm

    if args.command == "pool":
        print(
            "note: `squall pool` is now `squall warm-pool` (compute pools: `squall compute-pool`)",
            file=sys.stderr,
        )

    if args.action == "stop":
        if not warm.stop(timeout=args.timeout):
            print("no warm pool is running")
            return 0
        info = warm.status()
        if info is not None:
            print(f"warm pool {info['pid']} still runs {len(info['workers'])} worker(s)")
            return 1
        print("warm pool stopped")
        return 0
    info = warm.status()
    if args.json:
        print_json(info)
        return 0
    if info is None:
        off = "" if warm.available() else " (turned off: SQUALL_WARM_POOL_IDLE=0, or not Linux)"
        print(f"no warm pool is running{off}")
        return 0
    print(f"warm pool: pid {info['pid']}, up {time.time() - info['started']:.0f} s")
    print(f"  python:  {info['python']}")
    print(f"  modules: {info['modules']} imported")
    print(f"  workers: {len(info['workers'])} running")
    print(f"  idle:    {info['idle_s']:.0f} s (exits after {info['idle_timeout_s']:g} s idle)")
    return 0
