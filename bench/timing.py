"""Shared helpers for the benchmarks: time a case beside its baseline in one run.

Each benchmark alternates case and baseline runs (so load on the machine hits
both alike), reports the median of each and their ratio. Never used in tests.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


# The small unit of work the throughput benchmarks pass around: one task of `true` on one core.
ONE_TASK_JOBSPEC = """\
version: 1
resources:
- type: slot
  label: default
  count: 1
  with:
  - type: core
    count: 1
task:
  slot: default
  count: {per_slot: 1}
  transform:
  - {step: write, filename: job.sh}
  - {step: submit, filename: job.sh}
  scripts:
  - name: job.sh
    content: "#!/bin/sh\\ntrue\\n"
"""


# Measure what users get: Python caching compiled modules (.pyc). Some shells here
# export PYTHONDONTWRITEBYTECODE, which makes every start compile every module.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def time_command(argv: Sequence[str], **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def side_by_side(
    name: str, case: Callable[[], float], baseline: Callable[[], float], baseline_name: str, repeat: int = 20
) -> tuple[float, float]:
    """Median seconds of ``case`` and ``baseline``, alternated ``repeat`` times, printed as a row."""
    case(), baseline()  # warm the page cache and .pyc files
    cases, bases = [], []
    for _ in range(repeat):
        cases.append(case())
        bases.append(baseline())
    c, b = statistics.median(cases), statistics.median(bases)
    print(f"{name:<44} {c * 1000:8.1f} ms   {baseline_name:<28} {b * 1000:8.1f} ms   ratio {c / b:5.2f}")
    return c, b


def rate_row(name: str, rate: float, baseline_name: str, baseline_rate: float) -> None:
    print(
        f"{name:<44} {rate:8.0f} /s   {baseline_name:<28} {baseline_rate:8.0f} /s   ratio {rate / baseline_rate:5.2f}"
    )
