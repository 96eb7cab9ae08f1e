"""The `jobspec` command line. Imports stay inside the commands: start-up is a feature."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.plugin.status import JobStatus
    from jobspec.plugin.transformer import Transformer

from jobspec.cli.parser import SUBCOMMANDS, build_parser

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """The `jobspec` command on ``argv``; without it, on this process's own arguments: it is
    the process's command (the console script, ``python -m jobspec.cli.main``), which ends
    when this returns."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    finally:
        if argv is None:
            _ending()


def _ending() -> None:
    """The process ends next: every object moves to the collector's permanent generation, so
    the collections Python runs while it shuts down do not walk them all again (a run holds
    some 17,000: about 5 ms). Objects are still freed as the modules are cleared; the job
    index is closed before that, by atexit (`jobspec.engine.index`)."""
    import gc

    gc.freeze()


def _main(argv: Sequence[str]) -> int:
    words = list(argv)
    # a subcommand's words need its parser alone; anything else (help, none, an unknown one) all
    parser = build_parser(words[0] if words and words[0] in SUBCOMMANDS else None)
    scheduler_options: list[str] = []
    if words[:1] == ["import"] and "--" in words:  # what follows -- is the scheduler's (its -o too)
        at = words.index("--")
        words, scheduler_options = words[:at], words[at + 1 :]
    args = parser.parse_args(words)
    args.scheduler_options = scheduler_options
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    from jobspec.document.problems import JobspecError

    handler = (
        getattr(args, "handler", None)
        or {
            "run": cmd_run,
            "validate": cmd_validate,
            "transformers": cmd_transformers,
            "status": cmd_jobs,
            "wait": cmd_jobs,
            "cancel": cmd_jobs,
            "version": cmd_version,
            "enqueue": _spool_command,
            "receive": _spool_command,
            "spool": _spool_command,
            "import": cmd_import,
            "list": _jobs_command,
            "logs": _jobs_command,
            "prune": _jobs_command,
        }[args.command]
    )
    try:
        return handler(args)
    except JobspecError as e:
        print(f"jobspec: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("jobspec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_FAILED


def _jobs_command(args: argparse.Namespace) -> int:
    from jobspec.cli import jobs

    return {"list": jobs.cmd_list, "logs": jobs.cmd_logs, "prune": jobs.cmd_prune}[args.command](args)


def cmd_version(args: argparse.Namespace) -> int:
    from jobspec import __version__

    print(f"jobspec {__version__}")
    return EXIT_OK


def _read(file: str) -> Any:
    """A path, or the text of standard input for '-'."""
    if file == "-":
        from jobspec.document.load import load_stream

        return load_stream(sys.stdin.buffer)  # bytes, up to the size limit: UTF-8 is checked, not assumed
    return file


def cmd_run(args: argparse.Namespace) -> int:
    from jobspec.api import installed_transformers
    from jobspec.cli.runs import report_interrupted, report_where, terminate_as_interrupt
    from jobspec.engine.plan import plan
    from jobspec.engine.run import Reporter, execute
    from jobspec.plugin.errors import TransformerUnavailable
    from jobspec.transformers.registry import get_transformer_registry

    choice = get_transformer_registry().choice(args.transformer)
    cls, why = choice.cls, choice.why
    # a dry run's files, manifests and command lines on stdout, its words on stderr (pipeable)
    stream = sys.stderr if args.json or args.dry_run else sys.stdout
    artifacts = sys.stdout if args.dry_run and not args.json else None
    reporter = Reporter(stream=stream, output=stream, artifacts=artifacts)
    the_plan = plan(_read(args.file), cls(), other_systems=installed_transformers)
    if not args.dry_run:
        try:
            the_plan.transformer.ensure_ready()
        except TransformerUnavailable as e:
            print(f"jobspec: {e}; nothing was started", file=sys.stderr)
            return EXIT_FAILED
    reporter.note(
        f"jobspec: transformer {cls.name} ({why})" + (", dry run: nothing is changed" if args.dry_run else "")
    )
    for name, reason in choice.passed_over:  # an automatic choice says why it is not another
        print(f"jobspec: passed over {name}: {reason}", file=sys.stderr)
    try:
        with terminate_as_interrupt():
            result = execute(the_plan, reporter, dry_run=args.dry_run)
    except TransformerUnavailable as e:
        print(f"jobspec: {e}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        reporter.line.clear()
        report_interrupted(reporter.running)
        return 130
    if args.json:
        import json

        print(json.dumps({**result.to_dict(), "choice": choice.to_dict()}, indent=2, default=str))
    elif not args.dry_run:
        report_where(result, reporter.note)
    if not result.ok:
        done = ", ".join(f"{s.index + 1} ({s.step})" for s in result.completed) or "none"
        jobs = ", ".join(result.job_ids) or "none"
        print(f"jobspec: {result.error}\njobspec: steps completed: {done}; jobs submitted: {jobs}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    import json

    from jobspec.api import check, transformer_for
    from jobspec.document.load import load
    from jobspec.document.problems import JobspecError, Problem

    transformer = transformer_for(args.transformer) if args.transformer else None
    if args.native and transformer is None:
        raise JobspecError(Problem("--native checks a transformer's own format: name it with -t"))
    if args.native and transformer is not None and transformer.native_format is None:
        raise JobspecError(Problem(f"transformer {transformer.name} has no jobspec format of its own to check"))
    report: dict[str, list[dict[str, Any]]] = {}
    bad = 0
    for file in args.files:
        problems: list[Problem] = []
        try:
            if args.native and transformer is not None:
                problems = transformer.native_problems(load(_read(file), check=False))
            else:
                problems = check(load(_read(file), check=False), transformer)
        except JobspecError as e:
            problems = list(e.problems)
        report[file] = [p.to_dict() for p in problems]
        if problems:
            bad += 1
            if not args.json:
                for p in problems:
                    print(p, file=sys.stderr)
        elif not args.json:
            print(f"{file}: valid" + (f" {transformer.native_format}" if args.native and transformer else ""))
    if args.json:
        print(json.dumps(report, indent=2))
    return EXIT_BAD_INPUT if bad else EXIT_OK


def cmd_transformers(args: argparse.Namespace) -> int:
    import json

    from jobspec.document.problems import JobspecError
    from jobspec.transformers.registry import get_transformer_registry

    registry = get_transformer_registry()
    rows: list[dict[str, Any]] = []
    for name in registry.names():
        entry = registry.entry(name)
        try:
            cls = registry.get_plugin(name)
        except JobspecError as e:
            rows.append({"name": name, "origin": entry.origin, "error": str(e.problems[0].message)})
            continue
        ok, why = cls.available()
        rows.append(
            {
                "name": name,
                "origin": entry.origin,
                "description": cls.description,
                "steps": sorted(cls.steps),
                "available": ok,
                "why": why,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    for row in rows:
        if "error" in row:
            print(f"{row['name']}  [{row['origin']}]  cannot load: {row['error']}")
            continue
        here = "can run here" if row["available"] else "cannot run here"
        print(f"{row['name']}  [{row['origin']}]  {here} ({row['why']})")
        print(f"    {row['description']}")
        print(f"    steps: {', '.join(row['steps'])}")
    return EXIT_OK


def _spool_command(args: argparse.Namespace) -> int:
    from jobspec.cli import spool

    return {"enqueue": spool.cmd_enqueue, "receive": spool.cmd_receive, "spool": spool.cmd_spool}[args.command](args)


def cmd_import(args: argparse.Namespace) -> int:
    from jobspec.importing.command import run_import

    return run_import(args.file, args.output, args.strict, args.scheduler_options)


def _owner(job_id: str, name: str | None) -> Transformer:
    from jobspec.transformers.registry import get_transformer_registry

    registry = get_transformer_registry()
    return registry.get_plugin(name)() if name else registry.owner(job_id)()


def cmd_jobs(args: argparse.Namespace) -> int:
    import json

    from jobspec.plugin.errors import JobLookupError

    statuses: list[JobStatus] = []
    code = EXIT_OK
    for job_id in args.job_ids:
        transformer = _owner(job_id, args.transformer)
        try:
            if args.command == "status":
                status = transformer.status(job_id)
            elif args.command == "wait":
                status = transformer.wait(job_id, args.timeout)
            else:
                status = transformer.cancel(job_id)
        except JobLookupError as e:
            print(f"jobspec: {e}", file=sys.stderr)
            code = max(code, EXIT_BAD_INPUT)
            continue
        except (OSError, RuntimeError) as e:
            print(f"jobspec: {job_id}: {e}", file=sys.stderr)
            code = max(code, EXIT_FAILED)
            continue
        statuses.append(status)
        if args.command == "wait" and status.state != "completed":
            code = max(code, EXIT_FAILED)
            if not status.done and args.timeout is not None:
                print(f"jobspec: {job_id}: timed out after {args.timeout:g} s; still {status.state}", file=sys.stderr)
        if not args.json:
            print(_status_line(status))
    if args.json:
        print(json.dumps([s.to_dict() for s in statuses], indent=2))
    return code


def _status_line(status: JobStatus) -> str:
    line = f"{status.job_id}  {status.state}"
    if status.exit_code is not None:
        line += f"  exit code {status.exit_code}"
    if status.reason:
        line += f"  ({status.reason})"
    return line


if __name__ == "__main__":
    sys.exit(main())
