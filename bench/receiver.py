"""The receiver's throughput, from enqueue to submitted, beside a shell loop doing the same.

    python bench/receiver.py [N]

- local: `jobspec receive --once` with 1 and 4 workers beside a shell loop of
  `jobspec run FILE` (one Python start-up per jobspec);
- slurm (when a cluster answers): the receiver beside a shell loop of `sbatch`
  for the same jobs. Issue 5's target: at least as fast as the shell loop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import BIN, rate_row

JOBSPEC = """\
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
  count: {total: 1}
  transform:
  - {step: write, filename: job.sh}
  - {step: submit, filename: job.sh}
  scripts:
  - name: job.sh
    content: "#!/bin/sh\\ntrue\\n"
"""


def receive_rate(n: int, transformer: str, workers: int, tmp: Path) -> float:
    from jobspec.receiver.service import Receiver
    from jobspec.receiver.spool import Spool

    spool = Spool(tmp / f"spool-{transformer}-{workers}")
    started = time.perf_counter()
    for i in range(n):
        spool.enqueue_text(JOBSPEC, f"j{i}.yaml")
    counts = Receiver(spool, transformer, workers).run(once=True)
    elapsed = time.perf_counter() - started
    assert counts.done == n, counts
    return n / elapsed


def shell_loop_rate(n: int, command: str, tmp: Path) -> float:
    script = f"for i in $(seq {n}); do {command} >/dev/null; done"
    started = time.perf_counter()
    subprocess.run(["bash", "-c", script], check=True, cwd=tmp)
    return n / (time.perf_counter() - started)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    import logging

    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["JOBSPEC_STATE_DIR"] = str(tmp / "state")
        (tmp / "one.yaml").write_text(JOBSPEC)
        (tmp / "job.sh").write_text("#!/bin/sh\ntrue\n")
        loop = shell_loop_rate(n, f"{BIN / 'jobspec'} run -t local one.yaml", tmp)
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
        loop = shell_loop_rate(n, "sbatch --parsable --output=/dev/null job.sh", tmp)
        for workers in (1, 4):
            rate = receive_rate(n, "slurm", workers, tmp)
            rate_row(f"receive -t slurm, {workers} worker(s), {n} jobspecs", rate, "loop of sbatch", loop)


if __name__ == "__main__":
    main()
