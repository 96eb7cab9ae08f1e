"""`jobspec completion bash|zsh`: a completion script made from the command's own parser
(by shtab), so it never goes stale: every subcommand and option there is, files where a
FILE is asked for, folders for a DIR, and the installed transformers' names for -t.

    source <(jobspec completion bash)                              # in ~/.bashrc
    jobspec completion zsh > "${fpath[1]}/_jobspec"                 # zsh, then compinit
"""

from __future__ import annotations

import argparse

EXIT_OK = 0
SHELLS = ("bash", "zsh")


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.set_defaults(handler=cmd_completion)


def cmd_completion(args: argparse.Namespace) -> int:
    try:
        import shtab
    except ImportError:
        from jobspec.document.problems import JobspecError, Problem

        raise JobspecError(
            Problem("jobspec completion needs shtab, a dependency of jobspec: pip install 'shtab>=1.7'")
        ) from None

    from jobspec.cli.parser import build_parser
    from jobspec.transformers.registry import get_transformer_registry

    parser = build_parser()  # a copy of its own: what is marked here only guides completion
    names = get_transformer_registry().names()
    for action in walk(parser):
        if action.metavar in ("FILE", "OUT"):
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        elif action.metavar == "DIR":
            action.complete = shtab.DIRECTORY  # type: ignore[attr-defined]
        elif "--transformer" in action.option_strings:
            action.choices = names
        elif isinstance(action, argparse._SubParsersAction):  # menus show the one-line help
            for line in action._choices_actions:
                action.choices[line.dest].description = line.help
    print(shtab.complete(parser, shell=args.shell), end="")
    return EXIT_OK


def walk(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """Every action of ``parser`` and of its subcommands, at any depth."""
    found = []
    for action in parser._actions:
        found.append(action)
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                found += walk(sub)
    return found
