"""The `jobspec` command line. Imports stay inside the commands: start-up is a feature."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.plugin.status import JobStatus
    from jobspec.plugin.transformer import Transformer

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

EPILOG = """\
exit codes:
  0  success
  1  a failure while running (a step failed, a job failed, a system did not answer)
  2  bad input (the jobspec, a step, a setting, a transformer name, a job id)
"""

CHOICE = """
transformer choice (run, receive): -t NAME, else $JOBSPEC_TRANSFORMER, else flux inside a Flux
instance, else slurm where a Slurm cluster answers, else local (an installed plugin
may ask too); the run says which it picked and why each other one was passed over.
"""

# Each command's own description, at the top of its --help (its line in `jobspec --help` is shorter)
DESCRIPTIONS = {
    "run": "Plan and run the steps of a jobspec. Every step is checked first; if anything is wrong, "
    "every problem is reported and nothing is written or started.",
    "validate": "Check jobspecs without running them: the schema, the resource graph, the steps and "
    "their settings, every problem in one run. Without -t the steps are checked against the core "
    "steps, and a setting that names a transformer (slurm.partition) against that transformer.",
    "show": "Show a jobspec's resource graph as a tree with the counts every backend uses, and the "
    "jobs its steps submit with what each waits for.",
    "transformers": "List the transformers, built in and installed, their steps, and whether each "
    "can run here and why.",
    "status": "Show the state of jobs. The transformer is told by the job id's form unless named.",
    "wait": "Wait for jobs to end. Exits 1 if any did not complete.",
    "cancel": "Cancel jobs.",
    "enqueue": "Validate jobspecs and place them in a spool, atomically: all of them or none. What "
    "their copy steps read is taken into the spool, so an entry runs the same later.",
    "receive": "Run the jobspecs of a spool as they arrive, oldest first; each ends in done/ or "
    "failed/ with a JSON result. SIGTERM lets the steps under way finish.",
    "spool": "Create a spool, or look at one.",
    "import": "Turn a batch script (#SBATCH, #PBS, # flux: directives) into a jobspec, printed on stdout.",
    "completion": "Print a shell completion script for bash or zsh, made from this command's own options.",
    "version": "Print the version.",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every subcommand, or with ``only`` (a subcommand's name)
    that one alone, which is all its own words need. argparse makes a help formatter for
    every argument it is given: a start that builds one subcommand of sixteen saves that."""
    from jobspec import __version__

    parser = argparse.ArgumentParser(
        prog="jobspec",
        description="Run one cluster-agnostic job description on Flux, Slurm, Kubernetes or this machine.",
        epilog=EPILOG + CHOICE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"jobspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help, chooses, add_arguments) in SUBCOMMANDS.items():
        if only is None or name == only:
            # ``help`` is its line in the list; its own --help has its description,
            # and the transformer-choice note only where it ``chooses`` one
            add_arguments(
                sub.add_parser(
                    name,
                    help=help,
                    description=DESCRIPTIONS.get(name, help),
                    epilog=EPILOG + (CHOICE if chooses else ""),
                    formatter_class=argparse.RawDescriptionHelpFormatter,
                )
            )
    return parser


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("file", metavar="FILE", help="a jobspec (YAML or JSON; - for standard input)")
    run.add_argument(
        "-t", "--transformer", metavar="NAME", help="the transformer to run with (default: chosen, see below)"
    )
    run.add_argument(
        "--dry-run", action="store_true", help="print the plan and what would be written or run; change nothing"
    )
    run.add_argument("--json", action="store_true", help="print the result as JSON (step lines go to stderr)")


def _validate_arguments(validate: argparse.ArgumentParser) -> None:
    validate.add_argument("files", metavar="FILE", nargs="+", help="jobspecs (YAML or JSON; - for standard input)")
    validate.add_argument("-t", "--transformer", metavar="NAME", help="check the steps against this transformer's own")
    validate.add_argument(
        "--native",
        action="store_true",
        help="check a plain jobspec in the -t transformer's own format (-t flux: RFC 25 version 1, as Flux does)",
    )
    validate.add_argument("--json", action="store_true", help="print the problems as JSON")


def _transformers_arguments(listing: argparse.ArgumentParser) -> None:
    listing.add_argument("--json", action="store_true", help="print the list as JSON")


def _job_id_arguments(p: argparse.ArgumentParser) -> None:
    """status and cancel; wait adds --timeout."""
    p.add_argument("job_ids", metavar="ID", nargs="+", help="job ids, as run printed them")
    p.add_argument("-t", "--transformer", metavar="NAME", help="whose job ids (default: told by the id's form)")
    p.add_argument("--json", action="store_true", help="print the states as JSON")


def _wait_arguments(p: argparse.ArgumentParser) -> None:
    _job_id_arguments(p)
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="give up waiting after this long")


def _enqueue_arguments(enqueue: argparse.ArgumentParser) -> None:
    enqueue.add_argument("files", metavar="FILE", nargs="+", help="jobspecs (YAML or JSON)")
    enqueue.add_argument("--spool", required=True, metavar="DIR", help="the spool (see jobspec spool create)")
    enqueue.add_argument("-t", "--transformer", metavar="NAME", help="check the steps against this transformer")


def _receive_arguments(receive: argparse.ArgumentParser) -> None:
    receive.add_argument("--spool", required=True, metavar="DIR", help="the spool (see jobspec spool create)")
    receive.add_argument("-t", "--transformer", metavar="NAME", help="default: chosen as for run")
    receive.add_argument("--once", action="store_true", help="process what is waiting, then exit (for cron)")
    receive.add_argument("--workers", type=int, default=1, metavar="N", help="run N jobspecs at once (default 1)")
    receive.add_argument("--verbose", action="store_true", help="log each step's line too, not only each jobspec's")


def _spool_arguments(spool: argparse.ArgumentParser) -> None:
    spool_sub = spool.add_subparsers(dest="spool_command", metavar="COMMAND", required=True)
    spool_create = spool_sub.add_parser(
        "create",
        help="make a spool folder (enqueue, receive and status refuse a folder that is not one)",
        description="Make a spool folder, private to you (0700): tmp, incoming, active, done, failed, "
        "journal, files. Nothing else makes one, so a mistyped path is an error, not a new spool.",
    )
    spool_create.add_argument("spool", metavar="DIR", help="the folder (made if missing; parents too)")
    spool_status = spool_sub.add_parser(
        "status",
        help="counts per state, the oldest waiting, the latest failures",
        description="Show a spool's counts per state (incoming, active, done, failed), the oldest "
        "jobspec waiting, and the latest failures with their reasons.",
    )
    spool_status.add_argument("spool", metavar="DIR", help="the spool")
    spool_status.add_argument("--json", action="store_true", help="print the status as JSON")


def _import_arguments(imp: argparse.ArgumentParser) -> None:
    imp.add_argument("file", metavar="FILE", help="the batch script (- for standard input)")
    imp.add_argument("-o", "--output", metavar="OUT", help="write the jobspec here instead")
    imp.add_argument("--strict", action="store_true", help="a directive that would be dropped is an error")
    imp.epilog = "sbatch, qsub or flux batch options after -- override the script's directives, as they do there"


# the arguments of the subcommands whose own module adds them (imported only when built)
def _list_arguments(p: argparse.ArgumentParser) -> None:
    from jobspec.cli.jobs import add_list

    add_list(p)


def _logs_arguments(p: argparse.ArgumentParser) -> None:
    from jobspec.cli.jobs import add_logs

    add_logs(p)


def _prune_arguments(p: argparse.ArgumentParser) -> None:
    from jobspec.cli.jobs import add_prune

    add_prune(p)


def _show_arguments(p: argparse.ArgumentParser) -> None:
    from jobspec.cli.show import add_parser

    add_parser(p)


def _completion_arguments(p: argparse.ArgumentParser) -> None:
    from jobspec.cli.completion import add_parser

    add_parser(p)


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


# Every subcommand, in the order `jobspec --help` lists them: its line there, whether it
# chooses a transformer (its --help then says how), and what adds its arguments
SUBCOMMANDS: dict[str, tuple[str, bool, Callable[[argparse.ArgumentParser], None]]] = {
    "run": ("plan and run the steps of a jobspec", True, _run_arguments),
    "validate": ("check jobspecs without running them", False, _validate_arguments),
    "transformers": (
        "list the transformers, their steps, and whether each can run here",
        False,
        _transformers_arguments,
    ),
    "status": ("show the state of jobs", False, _job_id_arguments),
    "wait": ("wait for jobs to end (exit 1 if any did not complete)", False, _wait_arguments),
    "cancel": ("cancel jobs", False, _job_id_arguments),
    "enqueue": ("validate jobspecs and place them in a spool, atomically", False, _enqueue_arguments),
    "receive": ("run the jobspecs of a spool as they arrive", True, _receive_arguments),
    "spool": ("create a spool, or look at one", False, _spool_arguments),
    "import": (
        "turn a batch script (#SBATCH, #PBS, # flux:) into a jobspec, printed on stdout",
        False,
        _import_arguments,
    ),
    "list": ("the jobs you submitted through jobspec, any transformer, newest first", False, _list_arguments),
    "logs": ("print a job's output (its standard output, then its errors on stderr)", False, _logs_arguments),
    "prune": (
        "forget the jobs that ended more than DAYS days ago (jobspec list stops showing them)",
        False,
        _prune_arguments,
    ),
    "show": ("the resource graph as a tree with its counts, and the jobs' order", False, _show_arguments),
    "completion": ("a shell completion script (bash or zsh)", False, _completion_arguments),
    "version": ("print the version", False, _no_arguments),
}


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
