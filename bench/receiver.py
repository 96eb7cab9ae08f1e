"""The receiver's throughput, from enqueue to submitted, beside a shell loop doing the same.

    python bench/receiver.py [N]

- local: `jobspec receive --once` with 1 and 4 workers beside a shell loop of
  `jobspec run FILE` (one Python start-up per jobspec);
- slurm (when a cluster answers): the receiver beside a shell loop of `sbatch`
  for the same jobs. Issue 5's target: at least as fast as the shell loop.
  Both sides submit their jobs held (the measure is enqueue to submitted, and on
  two cores jobs starting would slow whichever side is still submitting); the
  held jobs are cancelled at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import BIN, ONE_TASK_JOBSPEC, rate_row

JOBSPEC = ONE_TASK_JOBSPEC


HELD = JOBSPEC.replace("  transform:\n", "  transform:\n  - {step: set, key: slurm.options, value: [--hold]}\n")


def receive_rate(
    n: int, transformer: str, workers: int, tmp: Path, text: str = JOBSPEC, job_ids: list[str] | None = None
) -> float:
    from jobspec.receiver.service import Receiver
    from jobspec.receiver.spool import Spool

    spool = Spool(tmp / f"spool-{transformer}-{workers}")
    started = time.perf_counter()
    for i in range(n):
        spool.enqueue_text(text, f"j{i}.yaml")
    counts = Receiver(spool, transformer, workers).run(once=True)
    elapsed = time.perf_counter() - started
    assert counts.done == n, counts
    if job_ids is not None:
        for result in spool.dir("done").glob("*.result.json"):
            job_ids.extend(json.loads(result.read_text())["job_ids"])
    return n / elapsed


def shell_loop_rate(n: int, command: str, tmp: Path, output: list[str] | None = None) -> float:
    script = f"for i in $(seq {n}); do {command}; done"
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", script], check=True, cwd=tmp, capture_output=True, text=True)
    rate = n / (time.perf_counter() - started)
    if output is not None:
        output.extend(done.stdout.split())
    return rate


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    import logging

    from jobspec.receiver.service import LOG_FORMAT

    # the receiver logs as the command does (a line a jobspec), here into nothing
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO, format=LOG_FORMAT)  # noqa: SIM115
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["JOBSPEC_STATE_DIR"] = str(tmp / "state")
        (tmp / "one.yaml").write_text(JOBSPEC)
        (tmp / "job.sh").write_text("#!/bin/sh\ntrue\n")
        loop = shell_loop_rate(n, f"{BIN / 'jobspec'} run -t local one.yaml >/dev/null", tmp)
        for workers in (1, 4):
            rate = receive_rate(n, "local", workers, tmp)
            rate_row(f"receive -t local, {workers} worker(s), {n} jobspecs", rate, "loop of jobspec run", loop)

        from jobspec.transformers.registry import get_transformer_registry

        try:
            slurm = get_transformer_registry().get_plugin("slurm")
        except Exception as e:
            print(f"slurm: skipped ({e})")
            return
        ok, why = slurm.available()
        if not ok or not shutil.which("sbatch"):
            print(f"slurm: skipped ({why})")
            return
        held: list[str] = []
        try:
            loop = shell_loop_rate(n, "sbatch --parsable --hold --output=/dev/null job.sh", tmp, held)
            for workers in (1, 4):
                rate = receive_rate(n, "slurm", workers, tmp, HELD, held)
                rate_row(f"receive -t slurm, {workers} worker(s), {n} jobspecs", rate, "loop of sbatch", loop)
        finally:
            for start in range(0, len(held), 500):
                subprocess.run(["scancel", *held[start : start + 500]], check=False)


if __name__ == "__main__":
    main()
