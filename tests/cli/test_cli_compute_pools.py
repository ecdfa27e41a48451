"""``squall compute-pool`` and ``squall warm-pool``: two words a user cannot confuse."""

from __future__ import annotations

import json

import pytest

import squall
from squall.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_compute_pool_commands(session: squall.Session, capsys) -> None:  # type: ignore[no-untyped-def]
    home = str(session.home)
    code, out, _ = _run(
        capsys, "--home", home, "compute-pool", "create", "gpu", "--address", "ray://h:10001"
    )
    assert code == 0 and "compute pool gpu created (ray at ray://h:10001)" in out
    code, out, _ = _run(capsys, "--home", home, "compute-pool", "ls", "--json")
    rows = json.loads(out)
    assert [(r["name"], r["engine"]) for r in rows] == [("local", "local"), ("gpu", "ray")]
    code, out, _ = _run(capsys, "--home", home, "compute-pool", "drop", "gpu")
    assert code == 0
    assert [p.name for p in session.list_compute_pools()] == ["local"]
    code, out, _ = _run(
        capsys, "--home", home, "compute-pool", "create", "nfs", "--address", "head:6379",
        "--shared-fs", "--keep-warm", "600",
    )  # fmt: skip
    assert code == 0
    code, out, _ = _run(capsys, "--home", home, "compute-pool", "ls", "--json")
    nfs = json.loads(out)[1]
    assert (nfs["name"], nfs["shared_fs"], nfs["keep_warm_s"]) == ("nfs", True, 600.0)


@pytest.mark.parametrize("bad", [-1, "soon", float("nan"), float("inf")])
def test_keep_warm_must_be_seconds(session: squall.Session, bad: object) -> None:
    from squall.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match=rf"keep_warm_s {bad!r}"):
        session.create_compute_pool("warm", address="head:6379", keep_warm_s=bad)  # type: ignore[arg-type]
    assert [p.name for p in session.list_compute_pools()] == ["local"]


def test_warm_pool_is_named_so_and_the_old_word_still_works(capsys) -> None:  # type: ignore[no-untyped-def]
    code, _, err = _run(capsys, "warm-pool", "status", "--json")
    assert code == 0 and "deprecated" not in err and "is now" not in err
    code, _, err = _run(capsys, "pool", "status", "--json")
    assert code == 0 and "`squall pool` is now `squall warm-pool`" in err
