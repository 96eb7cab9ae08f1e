"""The Slurm transformer's speed on a real cluster (scripts/slurm-cluster start):

(a) `jobspec run -t slurm` of a one-submit jobspec (write + submit, no wait) beside
    `sbatch` of the same script by hand; target: at most 80 ms more per run;
(b) 200 jobspecs submitted from one Python process through the library (one
    Transformer, `jobspec.run(path, transformer)` in a loop, and `run_many` with 4
    workers) beside a shell loop of
    200 `sbatch` calls; target: at least as many jobs per second as the shell loop.

Both through the command line (sbatch, the default interface) and through the REST
API (slurmrestd, with the token of an auth step). Every job the benchmark submits is
cancelled at the end, so the queue drains.

    eval "$(scripts/slurm-cluster start)"
    .venv/bin/python bench/slurm.py [--jobs 200] [--repeat 20]

Prints why and exits 0 when no Slurm cluster answers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import BIN, rate_row, side_by_side, time_command

SCRIPT = "#!/bin/sh\ntrue\n"


def jobspec_text(name: str, interface: str) -> str:
    steps = ["  - {step: set, key: slurm.options, value: [--hold]}"]
    if interface == "rest":
        steps += ["  - {step: set, key: slurm.interface, value: rest}", "  - {step: auth}"]
    return "\n".join(
        [
            "version: 1",
            "resources:",
            "- type: slot",
            "  label: default",
            "  count: 1",
            "  with:",
            "  - type: core",
            "    count: 1",
            "task:",
            "  slot: default",
            "  count: {per_slot: 1}",
            "  transform:",
            *steps,
            "  - {step: write, filename: job.sh}",
            "  - {step: submit, filename: job.sh}",
            "  scripts:",
            "  - name: job.sh",
            f"    content: {json.dumps(SCRIPT)}",
            "attributes:",
            f"  system: {{job: {{name: {name}}}}}",
            "",
        ]
    )


def cluster_problem() -> str | None:
    if shutil.which("sbatch") is None:
        return "sbatch is not on the PATH"
    from jobspec.transformers.slurm.transformer import SlurmTransformer

    ok, why = SlurmTransformer.available()
    return None if ok else why


def sbatch_ids(text: str) -> list[str]:
    return [line.split(";")[0] for line in text.split() if line.split(";")[0].isdigit()]


def one_run(tmp: Path, env: dict[str, str], repeat: int, jobs: list[str]) -> None:
    """(a) one `jobspec run` beside one `sbatch`, each a new process."""
    script = tmp / "job.sh"
    script.write_text(SCRIPT)
    out = tmp / "out"
    out.mkdir()
    stage = tmp / "stage"
    stage.mkdir()

    def sbatch() -> float:
        started = time.perf_counter()
        done = subprocess.run(
            ["sbatch", "--parsable", "--hold", f"--output={out}/slurm-%j.out", str(script)],
            capture_output=True,
            text=True,
            check=True,
        )
        jobs.extend(sbatch_ids(done.stdout))
        return time.perf_counter() - started

    print("(a) one run, a new process each time (median of", repeat, "runs)")
    for interface in ("cli", "rest"):
        path = tmp / f"one-{interface}.yaml"
        path.write_text(jobspec_text(f"bench-one-{interface}", interface))
        argv = [str(BIN / "jobspec"), "run", "-t", "slurm", str(path)]

        def jobspec(argv: list[str] = argv) -> float:
            return time_command(argv, env=env)

        case, base = side_by_side(
            f"jobspec run -t slurm ({interface}, write + submit)", jobspec, sbatch, "sbatch job.sh", repeat
        )
        print(f"    difference: {(case - base) * 1000:+.1f} ms per run (target: at most +80 ms)")
    jobs.extend(squeue_ids("bench-one-"))


def squeue_ids(prefix: str) -> list[str]:
    """The queued or running jobs whose name starts with ``prefix``."""
    done = subprocess.run(["squeue", "-h", "-o", "%i %j"], capture_output=True, text=True)
    return [
        line.split()[0]
        for line in done.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].startswith(prefix)
    ]


def many(tmp: Path, count: int, jobs: list[str], rounds: int = 4) -> None:
    """(b) ``count`` jobspecs from one Python process beside a shell loop of ``count`` sbatch,
    in ``rounds`` alternating rounds (the queue grows as they go: each side meets it alike)."""
    from jobspec import run
    from jobspec.engine.run import Reporter
    from jobspec.transformers.slurm.transformer import SlurmTransformer

    script = tmp / "job.sh"
    script.write_text(SCRIPT)
    out = tmp / "many-out"
    out.mkdir()
    per_round = [count // rounds + (1 if r < count % rounds else 0) for r in range(rounds)]
    paths: dict[str, list[Path]] = {}
    for interface in ("cli", "rest", "cli-many"):
        paths[interface] = []
        for i in range(count):
            path = tmp / f"many-{interface}-{i}.yaml"
            path.write_text(jobspec_text(f"bench-many-{i}", interface.removesuffix("-many")))
            paths[interface].append(path)
    transformers = {interface: SlurmTransformer() for interface in paths}  # one each, reused
    quiet = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
    seconds = {"shell": 0.0, "cli": 0.0, "rest": 0.0, "cli-many": 0.0}
    done_so_far = 0
    for n in per_round:
        loop = f'for i in $(seq {n}); do sbatch --parsable --hold --output={out}/slurm-%j.out "$0" || exit 1; done'
        started = time.perf_counter()
        done = subprocess.run(["bash", "-c", loop, str(script)], capture_output=True, text=True, check=True)
        seconds["shell"] += time.perf_counter() - started
        jobs.extend(sbatch_ids(done.stdout))
        for interface, transformer in transformers.items():
            started = time.perf_counter()
            batch = paths[interface][done_so_far : done_so_far + n]
            if interface.endswith("-many"):  # several sbatch in flight at once
                results = transformer.run_many(batch, workers=4, reporter=quiet)
            else:
                results = [run(path, transformer, reporter=quiet) for path in batch]
            for result in results:
                if not result.ok:
                    raise SystemExit(f"jobspec run failed: {result.error}")
                jobs.extend(result.job_ids)
            seconds[interface] += time.perf_counter() - started
        done_so_far += n

    print(f"(b) {count} jobspecs from one Python process (one Transformer reused), {rounds} rounds alternating")
    shell_rate = count / seconds["shell"]
    for interface, how in (
        ("cli", "jobspec.run in a loop"),
        ("rest", "jobspec.run in a loop"),
        ("cli-many", "run_many, 4 workers"),
    ):
        rate = count / seconds[interface]
        rate_row(
            f"library, {interface.removesuffix('-many')} ({how})", rate, f"shell loop of {count} sbatch", shell_rate
        )


def cancel(jobs: list[str]) -> None:
    unique = sorted(set(jobs), key=int)
    for start in range(0, len(unique), 500):
        subprocess.run(["scancel", *unique[start : start + 500]], capture_output=True)
    print(f"cancelled the benchmark's {len(unique)} jobs (those still queued or running)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=200, help="jobspecs in (b) (default 200)")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each side in (a) (default 20)")
    args = parser.parse_args()
    problem = cluster_problem()
    if problem:
        print(
            f'skipped: no Slurm cluster answers here ({problem}); start one with: eval "$(scripts/slurm-cluster start)"'
        )
        return
    jobs: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jobspec-bench-") as name:
        tmp = Path(name)
        stages = tmp / "stages"  # the runs' temporary staging directories, removed with the rest
        stages.mkdir()
        tempfile.tempdir = str(stages)
        env = {**os.environ, "JOBSPEC_STATE_DIR": str(tmp / "state"), "TMPDIR": str(stages)}
        try:
            one_run(tmp, env, args.repeat, jobs)
            many(tmp, args.jobs, jobs)
        finally:
            jobs.extend(squeue_ids("bench-"))
            cancel(jobs)
            tempfile.tempdir = None
    print(f"python {sys.version.split()[0]}; medians and rates from this run only")


if __name__ == "__main__":
    main()
