"""The warehouse resource waits for the lake's write lock held by another process."""

import subprocess
import sys
import time

import pytest

from ccni_pipeline import lake
from ccni_pipeline.resources import WarehouseResource

HOLD_LOCK = """
import sys, time
from ccni_pipeline import lake
with lake.write_lock():
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def _hold_lock_in_subprocess(seconds: float) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "locked"
    return process


def test_writer_waits_for_other_process(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(tmp_path))
    holder = _hold_lock_in_subprocess(2)
    try:
        start = time.monotonic()
        with WarehouseResource(lock_wait_seconds=30).connect() as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
        assert time.monotonic() - start >= 1.0
    finally:
        holder.wait(timeout=30)


def test_writer_gives_up_after_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(tmp_path))
    holder = _hold_lock_in_subprocess(10)
    try:
        with pytest.raises(lake.LakeBusyError, match="another ccni command"):
            with WarehouseResource(lock_wait_seconds=0.5).connect():
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_reader_does_not_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(tmp_path))
    with WarehouseResource().connect() as connection:
        connection.execute("CREATE TABLE out.t AS SELECT 1 AS x")
    holder = _hold_lock_in_subprocess(10)
    try:
        with WarehouseResource(lock_wait_seconds=0.5).connect(read_only=True) as con:
            assert con.execute("SELECT x FROM out.t").fetchone() == (1,)
    finally:
        holder.kill()
        holder.wait(timeout=30)


def test_holder_process_does_not_lock_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("CCNI_DATA_LAKE", str(tmp_path))
    with lake.write_lock():
        assert lake.holds_write_lock()
        with WarehouseResource(lock_wait_seconds=0.5).connect() as connection:
            assert connection.execute("SELECT 2").fetchone() == (2,)
    assert not lake.holds_write_lock()
