"""`jobspec enqueue`, `receive` and `spool create|status`: the spool from the command line.

A spool is made only on purpose (`jobspec spool create DIR`): a mistyped path given to
enqueue, receive or status is an error, not a new, empty spool nobody watches.
"""

from __future__ import annotations

import argparse
import sys

from jobspec.receiver.spool import Spool

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def existing_spool(path: str) -> Spool:
    """The spool at ``path``; JobspecError saying how to make one if there is none."""
    from jobspec.document.problems import JobspecError, Problem

    spool = Spool(path)
    if not spool.exists():
        what = "does not exist" if not spool.root.exists() else "is not a spool (it has no incoming/ folder)"
        raise JobspecError(Problem(f"{path} {what}: create a spool with `jobspec spool create {path}`"))
    return spool


def cmd_enqueue(args: argparse.Namespace) -> int:
    """Check every file and take in what its copy steps read; then enqueue all of them, or none."""
    from pathlib import Path

    from jobspec.api import check, transformer_for
    from jobspec.document.load import load_text, read_text
    from jobspec.document.problems import JobspecError, Problem

    spool = existing_spool(args.spool)
    transformer = transformer_for(args.transformer) if args.transformer else None
    problems: list[Problem] = []
    bad = 0
    loaded = []
    for file in args.files:
        try:
            text, name = read_text(file)  # read once: what is checked is what is enqueued
            jobspec = load_text(text, source=name, path=Path(file))
        except JobspecError as e:
            problems += e.problems
            bad += 1
            continue
        found = check(jobspec, transformer)
        problems += found
        bad += bool(found)
        loaded.append((file, text, jobspec))
    prepared = []
    if not problems:
        for file, text, jobspec in loaded:
            try:
                prepared.append((file, spool.prepare(text, file, jobspec)))
            except JobspecError as e:
                problems += e.problems
                bad += 1
            except OSError as e:
                problems.append(Problem(f"cannot write into the spool: {e.strerror or e}", source=file))
                bad += 1
    if problems:
        for _, waiting in prepared:
            waiting.discard()
        for problem in problems:
            print(f"jobspec: {problem}", file=sys.stderr)
        print(
            f"jobspec: nothing was enqueued: {bad} of {len(args.files)} file{'s' if len(args.files) > 1 else ''} "
            f"{'has' if bad == 1 else 'have'} problems (enqueue takes all of them or none)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    for file, ready in prepared:
        print(f"{file}: enqueued as {ready.commit().name}")
    return EXIT_OK


def cmd_receive(args: argparse.Namespace) -> int:
    from jobspec.receiver.service import serve

    existing_spool(args.spool)
    if args.transformer:  # a wrong name is bad input, before anything starts
        from jobspec.transformers.registry import get_transformer_registry

        get_transformer_registry().get_plugin(args.transformer)
    return serve(args.spool, args.transformer, args.workers, args.once, verbose=args.verbose)


def cmd_spool(args: argparse.Namespace) -> int:
    if args.spool_command == "create":
        from jobspec.document.problems import JobspecError, Problem

        spool = Spool(args.spool)
        existed = spool.exists()
        if not existed and spool.root.is_dir() and any(spool.root.iterdir()):
            raise JobspecError(
                Problem(f"{args.spool} holds files and is not a spool: name a new or empty folder for one")
            )
        spool.create()
        print(f"{args.spool}: {'already a spool' if existed else 'spool created'}")
        return EXIT_OK
    return _status(existing_spool(args.spool), args.json)


def _status(spool: Spool, as_json: bool) -> int:
    import json

    status = spool.status()
    if as_json:
        print(json.dumps(status, indent=2))
        return EXIT_OK
    counts = status["counts"]
    print(f"{status['spool']}: " + ", ".join(f"{counts[s]} {s}" for s in ("incoming", "active", "done", "failed")))
    oldest = status["oldest_waiting"]
    if oldest:
        print(f"oldest waiting: {oldest['name']} ({oldest['age_seconds']:g} s)")
    for failure in status["latest_failures"]:
        print(f"failed: {failure['file']}: {failure['reason']}")
    return EXIT_OK
