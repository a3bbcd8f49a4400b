"""Soak: RSS of dagster-webserver + dagster-daemon (and their code servers) over time.

Dagster's long-running processes are known to grow over weeks; this samples
the resident memory of each process tree every `--every` seconds while the
platform's sensors and schedules tick against a real database, so growth per
hour can be read off and compared with the restart policy in docs/operations.md.

    .venv/bin/python bench/soak_dagster.py --seconds 300 --every 15
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
        stack.extend(children.get(p, []))
    return total / 1024


def summarise(samples: list[dict[str, float]], names: list[str]) -> dict[str, object]:
    """Growth of each process's floor: run subprocesses come and go under the daemon
    (about 240 MB each while alive), so compare the minimum of the first and last
    thirds rather than two arbitrary samples."""
    third = max(1, len(samples) // 3)
    head, tail = samples[1 : 1 + third] or samples[:1], samples[-third:]
    hours = max((tail[-1]["t_s"] - head[0]["t_s"]) / 3600, 1e-9)
    floor = {k: (min(r[k] for r in head), min(r[k] for r in tail)) for k in names}
    return {
        "floor_mb": {k: {"first_third": a, "last_third": b} for k, (a, b) in floor.items()},
        "floor_growth_mb_per_hour": {k: round((b - a) / hours, 1) for k, (a, b) in floor.items()},
        "peak_mb": {k: max(r[k] for r in samples) for k in names},
        "floor_ratio_last_to_first": {k: round(b / a, 4) for k, (a, b) in floor.items()},
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=300)
    ap.add_argument("--every", type=float, default=15)
    ap.add_argument("--port", type=int, default=3917)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="qp-soak-"))
    shutil.copyfile(ROOT / "quant_platform/orchestration/dagster.yaml", home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    ws = str(ROOT / "workspace.yaml")
    procs = {
        "webserver": subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-w", ws, "-h", "127.0.0.1", "-p", str(args.port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        "daemon": subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", ws],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
    }
    samples = []
    t0 = time.monotonic()
    try:
        up = None
        while time.monotonic() - t0 < 60:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/server_info", timeout=2)
                up = time.monotonic() - t0
                break
            except OSError:
                time.sleep(0.5)
        while time.monotonic() - t0 < args.seconds:
            row = {"t_s": round(time.monotonic() - t0, 1)}
            row.update({name: round(tree_rss_mb(p.pid), 1) for name, p in procs.items()})
            samples.append(row)
            print(row, flush=True)
            time.sleep(args.every)
    finally:
        stop_t = time.monotonic()
        for p in procs.values():
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        stopped = time.monotonic() - stop_t
        shutil.rmtree(home, ignore_errors=True)
    result = {
        "seconds": args.seconds,
        "startup_s": up,
        "stop_s": round(stopped, 1),
        "samples": samples,
        **summarise(samples, list(procs)),
        "command": f".venv/bin/python bench/soak_dagster.py --seconds {args.seconds:g}"
        f" --every {args.every:g}",
    }
    out = ROOT / "bench" / "results" / "dagster_soak.json"
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
