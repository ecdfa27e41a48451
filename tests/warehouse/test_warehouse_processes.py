"""Several processes share one warehouse: nothing holds its lock between operations."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

import squall
from squall.errors import WarehouseBusyError
from squall.warehouse import Warehouse

from .conftest import Spawn

READ_IN_CHILD = """
import squall
session = squall.connect({home!r})
print(session.table("shared").count())
"""

HOLD_LOCK = """
import sys, time, duckdb
con = duckdb.connect({path!r})
print("locked", flush=True)
time.sleep({seconds})
con.close()
"""

PROBE = """
import duckdb
try:
    duckdb.connect({path!r}).close()
    print("opened")
except duckdb.IOException:
    print("locked")
"""


def test_another_process_reads_while_a_session_is_open(home: Path, spawn: Spawn) -> None:
    session = squall.connect(home)
    session.create_table("shared", pa.table({"id": [1, 2, 3]}))
    df = session.sql("SELECT * FROM shared")
    assert df.count() == 3  # this process has used the warehouse and still holds its session
    child = spawn(READ_IN_CHILD.format(home=str(home)))
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.strip() == "3"
    assert session.table("shared").count() == 3  # and the session still works afterwards


def test_an_operation_waits_for_another_process(warehouse: Warehouse, spawn: Spawn) -> None:
    warehouse.create_table("t", pa.table({"id": [1]}))
    child = spawn(HOLD_LOCK.format(path=str(warehouse.path), seconds=1.5))
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    start = time.monotonic()
    assert warehouse.table("t").count() == 1
    assert time.monotonic() - start > 0.5
    child.wait(timeout=60)


def test_a_lock_held_too_long_is_a_clear_error(warehouse: Warehouse, spawn: Spawn) -> None:
    warehouse.create_table("t", pa.table({"id": [1]}))
    child = spawn(HOLD_LOCK.format(path=str(warehouse.path), seconds=30))
    assert child.stdout is not None and child.stdout.readline().strip() == "locked"
    warehouse.lock_wait = 0.5
    with pytest.raises(WarehouseBusyError) as info:
        warehouse.list_tables()
    message = str(info.value)
    assert str(warehouse.path) in message and f"process {child.pid}" in message
    assert isinstance(info.value, TimeoutError)
    child.kill()


def test_a_stream_holds_the_warehouse_only_until_closed(warehouse: Warehouse, spawn: Spawn) -> None:
    warehouse.sql("CREATE TABLE big AS SELECT range AS id FROM range(100000)")
    probe = PROBE.format(path=str(warehouse.path))
    stream = warehouse.table("big").iter_batches(batch_rows=1000)
    next(stream)
    out, _ = spawn(probe).communicate(timeout=60)
    assert out.strip() == "locked"  # the open stream's connection holds the file
    stream.close()
    out, _ = spawn(probe).communicate(timeout=60)
    assert out.strip() == "opened"
    stream = warehouse.table("big").iter_batches(batch_rows=1000)
    assert sum(b.num_rows for b in stream) == 100_000
    out, _ = spawn(probe).communicate(timeout=60)
    assert out.strip() == "opened"  # a stream read to its end let go of the file
