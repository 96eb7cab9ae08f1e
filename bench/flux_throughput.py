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

Target (issue 12): each at least 0.7 x the baseline. Prints the ratio of each, and last
``run_many`` beside as many threads of raw synchronous ``flux.job.submit`` as it runs
(8 workers x ``FluxTransformer.in_flight``): what threads that each wait for a job's id
could do at best, however fast jobspec were.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from timing import ONE_TASK_JOBSPEC, ROOT, rate_row

sys.path.insert(0, str(ROOT / "tests"))  # the Flux finder the tests use

JOBSPEC = ONE_TASK_JOBSPEC


def raw_rate(n: int, stage: Path, threads: int = 0) -> float:
    """The same jobs' Flux jobspecs through one submit_async loop; with ``threads``, instead
    that many threads each submitting one job at a time and waiting for its id (jobspec's
    workers do that: the most ``threads`` workers could do, however fast jobspec were)."""
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
    if threads:
        from concurrent.futures import ThreadPoolExecutor

        local = threading.local()

        def one(spec: str) -> int:
            if not hasattr(local, "handle"):
                local.handle = flux.Flux()
            return int(flux.job.submit(local.handle, spec))

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, specs[: threads * 2]))  # connections made
            started = time.perf_counter()
            ids = list(pool.map(one, specs))
            elapsed = time.perf_counter() - started
    else:
        handle = flux.Flux()
        started = time.perf_counter()
        futures = [flux.job.submit_async(handle, spec) for spec in specs]
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
            run_many_rate(20, tmp)  # warm up: imports, connections
            raw_rate(20, tmp)
            for _ in range(2):  # the baseline beside each case, in turn
                raw = raw_rate(n, tmp)
                rate_row(f"receive -t flux --workers 8, {n}", receiver_rate(n, tmp), "submit_async loop", raw)
                raw = raw_rate(n, tmp)
                rate_row(f"FluxTransformer.run_many(8 workers), {n}", run_many_rate(n, tmp), "submit_async loop", raw)
            # what bounds run_many's threads: each waits for Flux's answer (job-ingest batches for 10 ms)
            from jobspec.transformers.flux.transformer import FluxTransformer

            threads = FluxTransformer.threads(8)
            sync = raw_rate(n, tmp, threads=threads)
            rate_row(
                f"FluxTransformer.run_many(8 workers), {n}", run_many_rate(n, tmp), f"{threads} threads of submit", sync
            )
        finally:
            subprocess.run([str(found.command), "cancel", "--all", "--quiet"], check=False)
            instance.stop()


if __name__ == "__main__":
    main()
