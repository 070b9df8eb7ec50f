"""The trace benchmark runs end to end on a tiny network, and its two trace paths answer alike.

``scripts/bench_trace.py`` compares every naive answer (logs replayed in Python) with the indexed
one (``gateway.audit.trace``) and exits non-zero on a difference; here it runs with a few
thousand events on SQLite and on PostgreSQL. No timing is asserted (speed is the benchmark's
output, not a test).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chain_client._paths import PROJECT_ROOT
from tests.unit.test_indexer_support import databases

pytestmark = pytest.mark.integration

KEYS = {
    "events", "index_events_per_s", "trace_p50_ms", "trace_p99_ms", "naive_trace_p99_ms", "naive_samples",
    "trace_samples", "answers_equal", "mismatches", "index_backend", "target_index_met", "target_trace_met",
    "load_average", "machine", "shape", "trace_objects_max",
}  # fmt: skip


def run_bench(*extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "bench_trace.py"), "--events", "3000", "--samples", "8",
         "--naive-samples", "2", "--json", *extra],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


@pytest.fixture(scope="module")
def sqlite_result() -> dict[str, Any]:
    return run_bench()


def test_json_has_every_key(sqlite_result: dict[str, Any]) -> None:
    assert set(sqlite_result) >= KEYS
    assert sqlite_result["index_backend"] == "sqlite"
    assert sqlite_result["trace_samples"] == 16
    assert sqlite_result["naive_samples"] == 4
    for key in ("index_events_per_s", "trace_p50_ms", "trace_p99_ms", "naive_trace_p99_ms"):
        assert sqlite_result[key] > 0


def test_network_has_five_tiers_and_about_the_asked_size(sqlite_result: dict[str, Any]) -> None:
    shape = sqlite_result["shape"]
    assert shape["source_lots"] >= 3 and shape["finished_lots"] == 2 * shape["source_lots"]
    assert shape["items"] == shape["finished_lots"] * shape["items_per_lot"]
    # every indexed event was planned (the script checks the exact count), about 5 per item
    assert 3000 <= sqlite_result["events"] <= 4000
    # a forward trace reaches items through four genealogy steps: more than one finished lot's worth
    assert sqlite_result["trace_objects_max"] > shape["items_per_lot"]


def test_indexed_and_naive_traces_answer_alike(sqlite_result: dict[str, Any]) -> None:
    assert sqlite_result["mismatches"] == []
    assert sqlite_result["answers_equal"] is True


def test_postgresql_backend_answers_alike(tmp_path: Path) -> None:
    with databases("postgresql", tmp_path) as dbs:
        result = run_bench("--database-url", dbs.url("bench_trace", schema=False))
    assert result["index_backend"] == "postgresql"
    assert result["answers_equal"] is True and result["mismatches"] == []
