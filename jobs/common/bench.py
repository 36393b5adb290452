"""Run a benchmark module from `bench/` and measure processes' peak memory."""
from __future__ import annotations

import importlib
import resource
import sys
from pathlib import Path
from typing import Any

from jobs.common.config import CHECKOUT
from jobs.common.errors import C360Error

Figures = dict[str, Any]


def available() -> list[str]:
    return sorted(p.stem for p in (CHECKOUT / "bench").glob("*.py") if not p.stem.startswith("_"))


def run_bench(name: str, scale: int | None, profile: str | None) -> Figures:
    """Import `bench/<name>.py` and call its `run(scale, profile)`; returns flat figures."""
    if name not in available():
        raise C360Error(f"unknown benchmark '{name}'; benchmarks: {', '.join(available())}")
    # bench/ sits beside the package in the checkout, not inside it.
    if str(CHECKOUT) not in sys.path:
        sys.path.insert(0, str(CHECKOUT))
    module = importlib.import_module(f"bench.{name}")
    return module.run(scale=scale, profile=profile)


def reset_peak_rss(pid: int | None = None) -> None:
    """Start a new peak: the process's VmHWM drops to its current resident memory (Linux clear_refs 5)."""
    Path(f"/proc/{pid or 'self'}/clear_refs").write_text("5")


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process in MiB; this process by default."""
    status = Path(f"/proc/{pid or 'self'}/status")
    if pid is None and not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in status.read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise C360Error(f"no peak memory figure for process {pid}")
