"""Many jobspecs into a real Flux, beside a raw ``flux.job.submit_async`` loop of the same jobs.

    python bench/flux_throughput.py [N]       # N jobspecs a case (default 300)

Finds flux-core as the tests do (tests/flux_install.py: PATH, $FLUX_PREFIX, /opt/flux),
starts its own 4-broker test instance, and stops its queue (``flux queue stop``) so
that jobs stay pending: the measure is jobspec to submitted job, on both sides, and
jobs starting on this machine's cores would slow whichever side was still submitting.

- baseline: the Flux jobspecs of the same N jobs (built beforehand, as jobspec would
  build them), submitted by one ``flux.job.submit_async`` loop on one handle, then
  every id collected: the fastest way into this instance from Python.
- ``jobspec receive -t flux --workers 8``: N files in a spool, drained by the receiver
  (Receiver.run(once=True), the command's own loop; the spool filled beforehand).
- ``FluxTransformer.run_many`` of N files, 8 workers.
- last, ``run_many`` beside the same loop that also makes each job's folder and writes
  its script, as jobspec's stage and write step do (what running these jobs needs).

Target (issue 12): each at least 0.7 x the baseline. Prints the ratio of each, and the CPU
time jobspec's process spent per jobspec (the machine's cores are shared with Flux, whose
broker and validators need about 1.3 ms of CPU per job here).

Where the folders live matters: every jobspec gets a staging directory and its script
(the write step), and in the receiver a journal and a result file. On this machine's ext4
a new file or folder costs 15-25 us of CPU when it is quiet, and up to 0.3 ms while the
disk is busy (5 us on tmpfs): run it again with ``TMPDIR=/dev/shm`` to put the stages, the
spool and the instance on tmpfs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from timing import ONE_TASK_JOBSPEC, ROOT, rate_row

sys.path.insert(0, str(ROOT / "tests"))  # the Flux finder the tests use

JOBSPEC = ONE_TASK_JOBSPEC


def raw_rate(n: int, stage: Path, scripts: bool = False) -> float:
    """The same jobs' Flux jobspecs through one submit_async loop, then every id collected.
    With ``scripts``, the loop also makes each job's folder and writes its script there
    first, as running these jobs needs (jobspec's write step and stage do that)."""
    import flux.job

    import flux
    from jobspec import load
    from jobspec.plugin import script_command
    from jobspec.transformers.flux import limits
    from jobspec.transformers.flux.jobspec_v1 import submit_job, to_jobspec

    js = load(JOBSPEC)
    specs = []
    for i in range(n):
        where = stage / f"raw-{i}"
        command = script_command(f"{where}/job.sh", js.scripts["job.sh"]["content"])
        job = submit_job(js, command, stage=str(where), filename="job.sh")
        specs.append(json.dumps(to_jobspec(job, dict(os.environ), limits.propagated())))
    handle = flux.Flux()
    script = js.scripts["job.sh"]["content"]
    started = time.perf_counter()
    futures = []
    for i, spec in enumerate(specs):
        if scripts:
            where = stage / f"raw-{time.monotonic_ns()}-{i}"
            where.mkdir()
            (where / "job.sh").write_text(script)
        futures.append(flux.job.submit_async(handle, spec))
    ids = [f.get_id() for f in futures]
    elapsed = time.perf_counter() - started
    assert len(set(ids)) == n
    return n / elapsed


def receiver_rate(n: int, tmp: Path, workers: int = 8) -> float:
    from jobspec.receiver.service import Receiver
    from jobspec.receiver.spool import Spool

    spool = Spool(tmp / f"spool-{time.monotonic_ns()}")
    for i in range(n):
        spool.enqueue_text(JOBSPEC, f"j{i}.yaml")
    started = time.perf_counter()
    counts = Receiver(spool, "flux", workers).run(once=True)
    elapsed = time.perf_counter() - started
    assert counts.done == n, counts
    return n / elapsed


def run_many_rate(n: int, tmp: Path, workers: int = 8) -> float:
    from jobspec.transformers.flux.transformer import FluxTransformer

    folder = tmp / f"many-{time.monotonic_ns()}"
    folder.mkdir()
    paths = []
    for i in range(n):
        path = folder / f"j{i}.yaml"
        path.write_text(JOBSPEC)
        paths.append(path)
    started = time.perf_counter()
    results = FluxTransformer().run_many(paths, workers=workers)
    elapsed = time.perf_counter() - started
    failed = [r.error for r in results if not r.ok]
    assert not failed, failed[:3]
    return n / elapsed


def cpu_per_job(n: int, case: Callable[[], float]) -> tuple[float, float]:
    """The case's rate, and this process's CPU time (user and system) per jobspec, in ms."""
    before = time.process_time()
    rate = case()
    return rate, (time.process_time() - before) * 1000 / n


def main() -> None:
    import flux_install

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    found = flux_install.find()
    if found is None:
        print(f"bench/flux_throughput.py: skipped: {flux_install.NOT_FOUND}")
        return
    flux_install.activate(found)
    logging.disable(logging.INFO)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["JOBSPEC_STATE_DIR"] = str(tmp / "state")
        instance = flux_install.start_instance(str(found.command), tmp / "instance")
        os.environ["FLUX_URI"] = instance.uri
        try:
            subprocess.run([str(found.command), "queue", "stop", "--quiet"], check=True)
            print(f"{found.describe()}; {n} one-task jobspecs a case, the queue stopped (jobs stay pending)")
            # warm up, at full size: imports and connections here, and in the instance job-ingest's
            # validator workers (started as load comes: a cold first baseline runs at half speed)
            run_many_rate(n, tmp)
            raw_rate(n, tmp)
            for _ in range(2):  # the baseline beside each case, in turn
                raw = raw_rate(n, tmp)
                rate, cpu = cpu_per_job(n, lambda: receiver_rate(n, tmp))
                rate_row(f"receive -t flux --workers 8, {n}", rate, "submit_async loop", raw)
                print(f"    jobspec's own CPU: {cpu:.2f} ms a jobspec")
                raw = raw_rate(n, tmp)
                rate, cpu = cpu_per_job(n, lambda: run_many_rate(n, tmp))
                rate_row(f"FluxTransformer.run_many(8 workers), {n}", rate, "submit_async loop", raw)
                print(f"    jobspec's own CPU: {cpu:.2f} ms a jobspec")
            # the same loop doing the part of the work that is files: a folder and a script a job
            raw = raw_rate(n, tmp, scripts=True)
            rate = run_many_rate(n, tmp)
            rate_row(f"FluxTransformer.run_many(8 workers), {n}", rate, "loop writing scripts", raw)
        finally:
            subprocess.run([str(found.command), "cancel", "--all", "--quiet"], check=False)
            instance.stop()


if __name__ == "__main__":
    main()
