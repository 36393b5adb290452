"""`c360 bench generate`: wall time, peak memory and output of the synthetic data generator.

For each size (default 100 k and 1 M persons, 30 days, seed 7) it runs
`c360 generate --json` in a child process writing to a temporary folder,
and reports the child's wall time, its peak RSS (from `wait4`), the rows per
source, the landing size and the measured vs configured duplicate rates. The
temporary folder is deleted afterwards.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jobs.common.errors import C360Error

CHECKOUT = Path(__file__).resolve().parents[1]
DAYS, SEED = 30, 7
DEFAULT_SIZES = (100_000, 1_000_000)

Figures = dict[str, int | float | str]


def run(scale: int | None = None, profile: str | None = None) -> Figures:
    """Figures for `scale` persons, or for 100 k and 1 M persons when no scale is given.

    `profile` is accepted for the common bench interface; the generator reads no config.
    """
    figures: Figures = {"days": DAYS, "seed": SEED}
    for persons in (scale,) if scale else DEFAULT_SIZES:
        with tempfile.TemporaryDirectory(prefix="c360-bench-generate-") as tmp:
            figures.update(measure(persons, Path(tmp)))
    return figures


def measure(persons: int, scratch: Path) -> Figures:
    """Generate `persons` persons into `scratch` in a child process and measure it."""
    out = scratch / "out"
    log = scratch / "stdout.txt"
    cmd = [sys.executable, "-m", "jobs.cli", "generate", "--customers", str(persons), "--days", str(DAYS),
           "--seed", str(SEED), "--out", str(out), "--json"]
    began = time.perf_counter()
    with open(log, "w") as stdout:
        child = subprocess.Popen(cmd, cwd=CHECKOUT, stdout=stdout, stderr=subprocess.STDOUT)
        # wait4 gives this child's own resource usage (ru_maxrss in KiB on Linux).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - began
    text = log.read_text()
    if child.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise C360Error(f"generate for {persons} persons failed (exit {child.returncode}):\n{tail}")
    report = json.loads(text.strip().splitlines()[-1])
    landing_bytes = sum(p.stat().st_size for p in (out / "landing").rglob("*") if p.is_file())

    key = f"persons_{persons}"
    figures: Figures = {
        f"{key}_seconds": round(wall, 2),
        f"{key}_generate_seconds": report["seconds"],
        f"{key}_peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        f"{key}_files": report["files"],
        f"{key}_landing_mb": round(landing_bytes / 2**20, 1),
        f"{key}_rows_total": sum(report["rows_per_source"].values()),
    }
    for source, rows in report["rows_per_source"].items():
        figures[f"{key}_rows_{source}"] = rows
    for source, rate in report["duplicate_rate_measured"].items():
        figures[f"{key}_dup_rate_{source}_measured"] = rate
        figures[f"{key}_dup_rate_{source}_configured"] = report["duplicate_rate_configured"][source]
    return figures


if __name__ == "__main__":
    for name, value in run(int(sys.argv[1]) if len(sys.argv) > 1 else None).items():
        print(f"{name}: {value}")
