"""The launcher of local batch jobs, as ``$JOBSPEC_LAUNCH`` gives it to their scripts.

    $JOBSPEC_LAUNCH -n 4 -c 2 ./solver input.dat

starts the command 4 times on this machine, each with its rank (JOBSPEC_TASK_RANK,
FLUX_TASK_RANK) and the count (JOBSPEC_TASK_COUNT), waits for all, and exits with the
code of the first that failed. It takes the options srun and ``flux run`` share, so a
batch script written with them launches the same way on Slurm, Flux and here: ``-n``
(tasks; default: the allocation's, as srun does), ``-N`` (nodes: one machine here),
``-c`` (cores per task) and ``--gpus-per-task`` (accepted; nothing is bound here).
Standard library only: it runs by its path, without importing jobspec.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="$JOBSPEC_LAUNCH", description=__doc__.split("\n\n")[0])
    p.add_argument("-n", "--ntasks", type=int, help="how many copies (default: JOBSPEC_TASKS, else 1)")
    p.add_argument("-N", "--nodes", type=int, default=1, help="nodes: all copies run on this machine")
    p.add_argument("-c", "--cpus-per-task", type=int, default=1, help="cores per copy (not bound here)")
    p.add_argument("--gpus-per-task", type=int, default=0, help="GPUs per copy (not bound here)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser().error("no command to launch")
    count = args.ntasks or int(os.environ.get("JOBSPEC_TASKS") or 1)
    if count < 1:
        parser().error(f"-n takes a positive number, not {count}")
    procs = []
    for rank in range(count):
        env = {
            **os.environ,
            "JOBSPEC_TASK_RANK": str(rank),
            "JOBSPEC_TASK_COUNT": str(count),
            "FLUX_TASK_RANK": str(rank),
        }
        try:
            procs.append(subprocess.Popen(command, env=env))
        except OSError as e:
            print(f"$JOBSPEC_LAUNCH: cannot start {command[0]}: {e.strerror}", file=sys.stderr)
            for proc in procs:
                proc.terminate()
            return 127

    def forward(signum: int, _frame: object) -> None:
        for proc in procs:
            proc.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    codes = [proc.wait() for proc in procs]
    failed = next((code for code in codes if code != 0), 0)
    return 128 - failed if failed < 0 else failed  # killed by a signal: the shell's 128+N


if __name__ == "__main__":
    sys.exit(main())
