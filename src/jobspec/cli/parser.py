"""The `jobspec` command line's words: every subcommand, its arguments and its help.
Only the chosen subcommand's parser is built (see `build_parser`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

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


def _added_by(module: str, function: str) -> Callable[[argparse.ArgumentParser], None]:
    """A subcommand's arguments that its own module adds, imported only when it is built."""

    def add(parser: argparse.ArgumentParser) -> None:
        import importlib

        getattr(importlib.import_module(module), function)(parser)

    return add


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
    "list": (
        "the jobs you submitted through jobspec, any transformer, newest first",
        False,
        _added_by("jobspec.cli.jobs", "add_list"),
    ),
    "logs": (
        "print a job's output (its standard output, then its errors on stderr)",
        False,
        _added_by("jobspec.cli.jobs", "add_logs"),
    ),
    "prune": (
        "forget the jobs that ended more than DAYS days ago (jobspec list stops showing them)",
        False,
        _added_by("jobspec.cli.jobs", "add_prune"),
    ),
    "show": (
        "the resource graph as a tree with its counts, and the jobs' order",
        False,
        _added_by("jobspec.cli.show", "add_parser"),
    ),
    "completion": ("a shell completion script (bash or zsh)", False, _added_by("jobspec.cli.completion", "add_parser")),
    "version": ("print the version", False, _no_arguments),
}
