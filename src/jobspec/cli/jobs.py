"""`jobspec list`, `logs` and `prune`: the jobs this user submitted through jobspec.

They read the index the engine writes (`jobspec.engine.index`); `list` asks each
job's transformer for the state of those not known to have ended, and keeps the answer.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.engine.index import IndexedJob, JobIndex
    from jobspec.plugin.status import JobStatus

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def add_list(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("-n", "--last", type=int, metavar="N", help="only the N newest")
    listing.add_argument("--json", action="store_true", help="print the jobs as JSON")


def add_logs(logs: argparse.ArgumentParser) -> None:
    logs.add_argument("job_id", metavar="ID", help="the job id, as run, status or list shows it")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing as the job writes, until it ends")


def add_prune(prune: argparse.ArgumentParser) -> None:
    prune.add_argument("days", metavar="DAYS", type=float, help="age in days (0: every job that has ended)")


def _refresh(index: JobIndex, job: IndexedJob, unreachable: dict[str, str]) -> str | None:
    """Ask the job's transformer for its state, if not known to have ended; why not, or None.
    A transformer that did not answer is not asked again (``unreachable``): one wait, not one a job."""
    from jobspec.document.problems import JobspecError
    from jobspec.plugin.errors import JobLookupError, TransformerError
    from jobspec.transformers.registry import get_transformer_registry

    if job.done:
        return None
    if job.transformer in unreachable:
        return unreachable[job.transformer]
    try:
        status = get_transformer_registry().get_plugin(job.transformer)().status(job.job_id)
    except JobLookupError:
        job.state = "unknown"
        return "the scheduler no longer knows it"
    except (JobspecError, TransformerError, OSError, RuntimeError) as e:
        unreachable[job.transformer] = str(e)
        return str(e)
    job.state, job.exit_code = status.state, status.exit_code
    index.set_state(job.job_id, job.transformer, status.state, status.exit_code)
    return None


def cmd_list(args: argparse.Namespace) -> int:
    import json

    from jobspec.engine.index import JobIndex

    index = JobIndex()
    jobs = index.jobs(args.last)
    unreachable: dict[str, str] = {}
    notes = {job.job_id: _refresh(index, job, unreachable) for job in jobs}
    if args.json:
        rows = [{**vars(job), "note": notes[job.job_id]} for job in jobs]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not jobs:
        print(f"jobspec: no jobs yet (the index is {index.path})", file=sys.stderr)
        return EXIT_OK
    table = [("JOB", "TRANSFORMER", "STATE", "SUBMITTED", "FROM")]
    for job in jobs:
        state = job.state + (f" ({job.exit_code})" if job.exit_code else "")
        if notes[job.job_id]:
            state += "?"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(job.submitted))
        table.append((job.job_id, job.transformer, state, when, f"{job.source or '-'} ({job.step})"))
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[4])
    unanswered = {job.job_id: note for job in jobs if (note := notes[job.job_id])}
    for job_id, note in unanswered.items():
        print(f"jobspec: {job_id}: state as last known: {note}", file=sys.stderr)
    return EXIT_OK


def _output_files(job_id: str, transformer: str | None) -> tuple[str | None, str | None, Any]:
    """(stdout file, stderr file, the transformer) from the index, else from its transformer's status."""
    from jobspec.engine.index import JobIndex
    from jobspec.transformers.registry import get_transformer_registry

    registry = get_transformer_registry()
    found = JobIndex().find(job_id)
    owner = registry.get_plugin(found.transformer)() if found else registry.owner(job_id)()
    if found and found.stdout:
        return found.stdout, found.stderr, owner
    details = owner.status(job_id).details
    return details.get("stdout"), details.get("stderr"), owner


def cmd_logs(args: argparse.Namespace) -> int:
    from jobspec.plugin.errors import JobLookupError, TransformerError
    from jobspec.plugin.follow import follow_files

    try:
        out, err, owner = _output_files(args.job_id, None)
    except JobLookupError as e:
        print(f"jobspec: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TransformerError, OSError) as e:
        print(f"jobspec: {args.job_id}: {e}", file=sys.stderr)
        return EXIT_FAILED
    if not out:
        print(
            f"jobspec: {args.job_id}: its output is not in files jobspec can read here "
            f"(ask its system: transformer {owner.name})",
            file=sys.stderr,
        )
        return EXIT_FAILED
    streams = [(out, sys.stdout)] + ([(err, sys.stderr)] if err and err != out else [])

    def status() -> JobStatus:
        if not args.follow:
            from jobspec.plugin.status import JobStatus

            return JobStatus(args.job_id, "completed")  # one pass: print what is there now
        return owner.status(args.job_id)  # type: ignore[no-any-return]

    missing = [path for path, _ in streams if not _readable(path)]
    if missing and not args.follow:
        print(f"jobspec: {args.job_id}: no output yet ({', '.join(missing)} not found)", file=sys.stderr)
        return EXIT_FAILED
    try:
        follow_files(streams, status, first=0.2, longest=1.0, tick=0.2)
    except (TransformerError, JobLookupError) as e:
        print(f"jobspec: {args.job_id}: {e}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _readable(path: str) -> bool:
    import os

    return os.path.isfile(path)


def cmd_prune(args: argparse.Namespace) -> int:
    from jobspec.engine.index import JobIndex

    if args.days < 0:
        print("jobspec: prune DAYS takes a number of days, 0 or more", file=sys.stderr)
        return EXIT_BAD_INPUT
    index = JobIndex()
    gone = index.prune(args.days)
    print(f"jobspec: forgot {gone} job{'s' if gone != 1 else ''} that ended more than {args.days:g} days ago")
    return EXIT_OK
