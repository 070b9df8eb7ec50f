#!/usr/bin/env python3
"""Throughput of the embedded document store next to plain sha256, and its memory on a 1 GiB add.

    .venv/bin/python scripts/bench_ipfs.py [--json] [--repeat 3] [--layouts pack,flatfs] [--dir DIR]

For 1 MiB and 100 MiB of random bytes, each layout (``pack`` — the gateway's default for new
stores — and ``flatfs``): ``add`` (durable: fsync, as the gateway runs it) and ``cat`` throughput,
next to ``hashlib.sha256`` of the same bytes, measured in the same run and interleaved, repeated,
median reported, and the disk's own durable write speed (``disk_write_mb_s_100mib``: the
ceiling of any durable add). MB/s are 10^6 bytes per second. Wall-clock numbers on a shared VM are noisy, so
the CPU time of each step (user + system, all threads) is reported beside them: the CPU ratio
says what the code costs, the wall ratio what the machine gave it at that moment.

Peak memory: a fresh subprocess adds a 1 GiB stream generated on the fly (never held in memory)
and reports its peak RSS (``VmHWM`` of ``/proc/self/status``; ``ru_maxrss`` is not used because
Linux carries it over from the parent across fork and exec) and its RSS before the add started.

``--json`` prints one object; the keys without a layout prefix are the ``pack`` layout's
(``add_mb_s_100mib``, ``sha256_mb_s_100mib``, ``cat_mb_s_100mib``, ``peak_rss_mib_1gib`` …).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.documents.store import EmbeddedDocumentStore  # noqa: E402

MiB = 1 << 20
SIZES = {"1mib": 1 * MiB, "100mib": 100 * MiB}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def mb_s(size: int, seconds: float) -> float:
    return round(size / seconds / 1e6, 1) if seconds > 0 else float("inf")


def _add(store: EmbeddedDocumentStore, data: bytes, into: list[Any]) -> None:
    into.append(store.add(data))


def _read_all(store: EmbeddedDocumentStore, cid: Any) -> int:
    return sum(len(piece) for piece in store.cat(cid))


def bench_layout(layout: str, data: bytes, workdir: Path, repeat: int) -> dict[str, Any]:
    out: dict[str, list[tuple[float, float]]] = {"sha": [], "add": [], "cat": []}
    for i in range(repeat):
        out["sha"].append(timed(lambda: hashlib.sha256(data).digest()))
        root = workdir / f"{layout}-{len(data)}-{i}"
        store = EmbeddedDocumentStore(root, layout=layout)  # type: ignore[arg-type]
        store.add(b"warm-up")  # creates the directories, the index and the pins database
        added: list[Any] = []
        out["add"].append(timed(functools.partial(_add, store, data, added)))
        out["cat"].append(timed(functools.partial(_read_all, store, added[0].cid)))
        shutil.rmtree(root, ignore_errors=True)
    size = len(data)
    summary: dict[str, Any] = {}
    for step, runs in out.items():
        summary[f"{step}_mb_s"] = mb_s(size, statistics.median(w for w, _ in runs))
        summary[f"{step}_cpu_mb_s"] = mb_s(size, statistics.median(c for _, c in runs))
    summary["add_vs_sha256"] = round(summary["add_mb_s"] / summary["sha_mb_s"], 3)
    summary["add_vs_sha256_cpu"] = round(summary["add_cpu_mb_s"] / summary["sha_cpu_mb_s"], 3)
    return summary


def disk_write(data: bytes, workdir: Path, repeat: int) -> float:
    """MB/s of writing ``data`` durably, the way the pack layout does (4 MiB ``O_DIRECT`` writes,
    then ``fdatasync``): the ceiling for any durable ``add`` on this disk."""
    import mmap

    stage = mmap.mmap(-1, 4 * MiB)
    runs = []
    for i in range(repeat):
        path = workdir / f"disk-{i}"
        flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_DIRECT", 0)
        try:
            fd = os.open(path, flags, 0o644)
        except OSError:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        start = time.perf_counter()
        for offset in range(0, len(data), 4 * MiB):
            piece = data[offset : offset + 4 * MiB]
            stage[: len(piece)] = piece
            os.pwrite(fd, stage, offset)
        os.fdatasync(fd)
        runs.append(time.perf_counter() - start)
        os.close(fd)
        path.unlink()
    stage.close()
    return mb_s(len(data), statistics.median(runs))


_CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from gateway.documents.store import EmbeddedDocumentStore
def status_mib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
store = EmbeddedDocumentStore({path!r}, layout={layout!r})
store.add(b"warm-up")
before = status_mib("VmRSS")
seed = os.urandom(1 << 20)
def stream():
    for i in range({mib}):
        yield seed[i % 4096:] + seed[:i % 4096]  # 1 MiB pieces, distinct chunks, made on the fly
start = time.perf_counter()
result = store.add(stream())
elapsed = time.perf_counter() - start
peak = status_mib("VmHWM")  # this process image's peak; ru_maxrss would include the parent's, from fork
print(before, peak, result.size, elapsed)
"""


def peak_rss(layout: str, workdir: Path, mib: int = 1024) -> dict[str, float]:
    path = workdir / f"rss-{layout}"
    code = _CHILD.format(root=str(ROOT), path=str(path), layout=layout, mib=mib)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, peak, size, elapsed = (float(x) for x in done.stdout.split())
    shutil.rmtree(path, ignore_errors=True)
    assert int(size) == mib * MiB
    return {"peak_rss_mib": round(peak, 1), "rss_before_add_mib": round(before, 1),
            "add_mb_s": mb_s(int(size), elapsed)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layouts", default="pack,flatfs")
    parser.add_argument("--dir", type=Path, default=None, help="where the stores go (default: a temp dir)")
    parser.add_argument("--skip-rss", action="store_true", help="skip the 1 GiB peak-memory run")
    args = parser.parse_args(argv)
    layouts = [name.strip() for name in args.layouts.split(",") if name.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="bench-ipfs-", dir=args.dir))
    report: dict[str, Any] = {"repeat": args.repeat, "durable": True, "cpus": os.cpu_count(),
                              "loadavg_before": os.getloadavg()[0], "layouts": {}}  # fmt: skip
    try:
        datasets = {name: os.urandom(size) for name, size in SIZES.items()}
        report["disk_write_mb_s_100mib"] = disk_write(datasets["100mib"], workdir, args.repeat)
        for layout in layouts:
            results: dict[str, Any] = {}
            for name, data in datasets.items():
                for key, value in bench_layout(layout, data, workdir, args.repeat).items():
                    results[f"{key}_{name}"] = value
            if not args.skip_rss:
                for key, value in peak_rss(layout, workdir).items():
                    results[f"{key}_1gib"] = value
            report["layouts"][layout] = results
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report["loadavg_after"] = os.getloadavg()[0]
    main_layout = "pack" if "pack" in report["layouts"] else layouts[0]
    flat = report["layouts"][main_layout]
    report.update({
        "layout": main_layout,
        "add_mb_s_100mib": flat["add_mb_s_100mib"], "sha256_mb_s_100mib": flat["sha_mb_s_100mib"],
        "cat_mb_s_100mib": flat["cat_mb_s_100mib"], "add_mb_s_1mib": flat["add_mb_s_1mib"],
        "sha256_mb_s_1mib": flat["sha_mb_s_1mib"], "cat_mb_s_1mib": flat["cat_mb_s_1mib"],
        "add_vs_sha256_100mib": flat["add_vs_sha256_100mib"],
        "add_vs_sha256_cpu_100mib": flat["add_vs_sha256_cpu_100mib"],
    })  # fmt: skip
    if "peak_rss_mib_1gib" in flat:
        report["peak_rss_mib_1gib"] = flat["peak_rss_mib_1gib"]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'layout':8} {'size':7} {'sha256':>9} {'add':>9} {'cat':>9} {'add/sha':>8} {'cpu add/sha':>12}  (MB/s)")
    for layout, results in report["layouts"].items():
        for name in SIZES:
            print(f"{layout:8} {name:7} {results[f'sha_mb_s_{name}']:9} {results[f'add_mb_s_{name}']:9} "
                  f"{results[f'cat_mb_s_{name}']:9} {results[f'add_vs_sha256_{name}']:8} "
                  f"{results[f'add_vs_sha256_cpu_{name}']:12}")  # fmt: skip
        if "peak_rss_mib_1gib" in results:
            print(f"{layout:8} 1 GiB add: peak RSS {results['peak_rss_mib_1gib']} MiB (before the add "
                  f"{results['rss_before_add_mib_1gib']} MiB), {results['add_mb_s_1gib']} MB/s")  # fmt: skip
    print(f"disk: durable sequential write {report['disk_write_mb_s_100mib']} MB/s (the ceiling of a durable add)")
    print(f"load average {report['loadavg_before']:.1f} → {report['loadavg_after']:.1f} on {report['cpus']} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
