"""The partner API's write turn on SQLite: one writer at a time across threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import create_engine

from gateway.partner.writes import serialized

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def _other_process_sees(lock_file: Path) -> str:
    return subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(lock_file)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_turn_is_a_file_lock_other_processes_wait_for(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'custody.db'}")
    lock_file = tmp_path / "custody.db-writer"
    with serialized(engine):
        with serialized(engine):  # re-entrant in the holding thread
            assert _other_process_sees(lock_file) == "busy"
        assert _other_process_sees(lock_file) == "busy", "held until the outermost exit"
    assert _other_process_sees(lock_file) == "free"


def test_threads_take_turns(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'custody.db'}")
    inside: list[str] = []

    def other() -> None:
        with serialized(engine):
            inside.append("other")

    with serialized(engine):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=0.5)
        assert inside == [] and thread.is_alive(), "the other thread waits for the turn"
    thread.join(timeout=30)
    assert inside == ["other"]


def test_memory_databases_and_other_dialects_need_no_file(tmp_path: Path) -> None:
    with serialized(create_engine("sqlite://")):
        pass
    assert list(tmp_path.iterdir()) == []
