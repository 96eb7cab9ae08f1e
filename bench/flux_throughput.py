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

Target (issue 12): each at least 0.7 x the baseline. Each case runs beside the baseline
five times in turn; it prints the median rates, the median ratio and its range, and the
CPU time a job of this process (jobspec's, or the loop's) and of the Flux instance's
processes (its brokers and job-ingest's validators).

On a machine of two cores, Flux and the submitting process share them, and the figures
say where the time goes: Flux spends about 1.3 ms of CPU a job under the loop, which sends
every job in one burst, and 1.6-1.9 ms under jobspec, whose jobs come one after another as
each is read, planned and staged (job-ingest and the KVS commit them in more, smaller
batches). Then the cases run again with the instance pinned to one CPU and this process to
another, as on a machine where the submitter does not compete with Flux for its cores: the
baseline is then Flux's rate on one core.

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
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
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


ROUNDS = 5  # each case beside its baseline, in turn: the median ratio, and its range, is printed


def instance_processes(session: int) -> Iterator[tuple[str, list[str]]]:
    """The processes of the Flux instance, which runs in a session of its own (its brokers,
    job-ingest's validators...): each pid with the fields of its /proc stat after its name."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[3]) == session:
            yield pid, fields


def instance_cpu(session: int) -> float:
    """CPU seconds (user and system) the instance's processes have spent so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    return sum((int(fields[11]) + int(fields[12])) / ticks for _, fields in instance_processes(session))


def pin(session: int, cpus: set[int]) -> None:
    """Every thread of the instance's processes onto ``cpus`` (those it starts later, such
    as more validators, inherit it)."""
    for pid, _ in instance_processes(session):
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                os.sched_setaffinity(int(task), cpus)
        except OSError:
            continue  # ended meanwhile


def measured(n: int, case: Callable[[], float], session: int) -> tuple[float, float, float]:
    """The case's rate, and the CPU time per jobspec (ms) of this process and of Flux."""
    own, flux = time.process_time(), instance_cpu(session)
    rate = case()
    return rate, (time.process_time() - own) * 1000 / n, (instance_cpu(session) - flux) * 1000 / n


def compare(name: str, n: int, case: Callable[[], float], baseline: Callable[[], float], session: int) -> None:
    """``case`` beside ``baseline``, ROUNDS times in turn: median rates and ratio, the
    ratio's range, and where the CPU went (the machine's cores are what both share)."""
    rows = []
    for _ in range(ROUNDS):
        raw = measured(n, baseline, session)
        rows.append((measured(n, case, session), raw))
    ratios = sorted(c[0] / b[0] for c, b in rows)
    median = statistics.median
    print(
        f"{name:<44} {median([c[0] for c, _ in rows]):8.0f} /s   {'submit_async loop':<20} "
        f"{median([b[0] for _, b in rows]):8.0f} /s   ratio {median(ratios):5.2f} ({ratios[0]:.2f}-{ratios[-1]:.2f})"
    )
    own, flux = median([c[1] for c, _ in rows]), median([c[2] for c, _ in rows])
    loop, flux_under_loop = median([b[1] for _, b in rows]), median([b[2] for _, b in rows])
    print(
        f"    CPU a job: jobspec {own:.2f} ms (the loop {loop:.2f}), "
        f"Flux {flux:.2f} ms (under the loop {flux_under_loop:.2f})"
    )


def main() -> None:
    import flux_install

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    found = flux_install.find()
    if found is None:
        print(f"bench/flux_throughput.py: skipped: {flux_install.NOT_FOUND}")
        return
    flux_install.activate(found)
    from jobspec.receiver.service import LOG_FORMAT

    # the receiver logs as the command does (a line a jobspec), here into nothing
    logging.basicConfig(stream=open(os.devnull, "w"), level=logging.INFO, format=LOG_FORMAT)  # noqa: SIM115
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        os.environ["JOBSPEC_STATE_DIR"] = str(tmp / "state")
        instance = flux_install.start_instance(str(found.command), tmp / "instance")
        os.environ["FLUX_URI"] = instance.uri
        session = instance.proc.pid  # started in a session of its own
        try:
            subprocess.run([str(found.command), "queue", "stop", "--quiet"], check=True)
            print(f"{found.describe()}; {n} one-task jobspecs a case, the queue stopped (jobs stay pending)")
            # warm up, at full size: imports and connections here, and in the instance job-ingest's
            # validator workers (started as load comes: a cold first baseline runs at half speed)
            run_many_rate(n, tmp)
            raw_rate(n, tmp)
            raw = lambda: raw_rate(n, tmp)  # noqa: E731
            compare(f"receive -t flux --workers 8, {n}", n, lambda: receiver_rate(n, tmp), raw, session)
            compare(f"FluxTransformer.run_many(8 workers), {n}", n, lambda: run_many_rate(n, tmp), raw, session)
            # the same loop doing the part of the work that is files: a folder and a script a job
            scripts = raw_rate(n, tmp, scripts=True)
            rate = run_many_rate(n, tmp)
            rate_row(f"FluxTransformer.run_many(8 workers), {n}", rate, "loop writing scripts", scripts)
            if len(os.sched_getaffinity(0)) >= 2:
                cpus = sorted(os.sched_getaffinity(0))
                print(f"the instance pinned to CPU {cpus[0]}, this process to CPU {cpus[1]} (see the docstring):")
                pin(session, {cpus[0]})
                os.sched_setaffinity(0, {cpus[1]})
                compare(f"receive -t flux --workers 8, {n}", n, lambda: receiver_rate(n, tmp), raw, session)
                compare(f"FluxTransformer.run_many(8 workers), {n}", n, lambda: run_many_rate(n, tmp), raw, session)
        finally:
            subprocess.run([str(found.command), "cancel", "--all", "--quiet"], check=False)
            instance.stop()


if __name__ == "__main__":
    main()
