"""What the command says about itself: help for every option, a description per
subcommand, the transformer-choice note only where a transformer is chosen, and shell
completion made from the same parser."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest
from support import jobspec_cli

from jobspec.cli.completion import walk
from jobspec.cli.parser import build_parser


def subcommands(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*words, name))
                found += subcommands(sub, (*words, name))
    return found


COMMANDS = subcommands(build_parser())


def test_every_option_and_argument_has_help() -> None:
    missing = [
        action.option_strings or action.dest
        for action in walk(build_parser())
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


@pytest.mark.parametrize("name", [words[0] for words in COMMANDS if len(words) == 1])
def test_a_subcommand_built_alone_is_the_one_in_the_whole_parser(name: str) -> None:
    """The command builds only the subcommand it is given (start-up): the same arguments,
    usage and help as in the parser `jobspec --help` shows, nested subcommands too."""

    def parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
        found = [parser]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found += parsers(sub)
        return found

    alone = parsers(build_parser(name))
    whole = [p for p in parsers(build_parser()) if p.prog.split()[1:2] in ([], [name])]
    assert [p.prog for p in alone] == [p.prog for p in whole]
    assert [p.format_help() for p in alone[1:]] == [p.format_help() for p in whole[1:]]
    assert [(a.option_strings, a.dest, a.nargs, a.type) for a in walk(alone[1])] == [
        (a.option_strings, a.dest, a.nargs, a.type) for a in walk(whole[1])
    ]


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_each_subcommand_has_its_own_description(words: tuple[str, ...]) -> None:
    done = jobspec_cli(*words, "--help")
    assert done.returncode == 0
    description = done.stdout.split("\n\n")[1]
    others = [jobspec_cli(*w, "--help").stdout.split("\n\n")[1] for w in COMMANDS if w != words and len(w) == 1]
    assert description.strip() and description not in others


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_the_transformer_choice_note_only_where_one_is_chosen(words: tuple[str, ...]) -> None:
    done = jobspec_cli(*words, "--help")
    assert ("transformer choice" in done.stdout) == (words[0] in ("run", "receive")), done.stdout


def test_show_draws_the_graph_with_its_counts_and_the_jobs_order() -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "pipeline.yaml"
    done = jobspec_cli("show", str(example))
    assert done.returncode == 0, done.stderr
    assert "  └── slot x2 'worker'  <- the task's slot\n      └── core x1\n" in done.stdout
    counts = dict(line.split() for line in done.stdout.split("\ncounts")[1].split("\njobs")[0].splitlines()[1:])
    assert counts == {"slots": "2", "cores_per_slot": "1", "tasks": "2", "cores_per_task": "1"}
    assert (
        "  └── install: submit install.sh  [step 9, waits for it]\n"
        "      └── count: submit count.sh  [step 10]\n"
        "          └── (unnamed): batch batch.sh  [step 11, waits for it]\n"
    ) in done.stdout


def test_show_lists_every_count_the_document_has(tmp_path: Path) -> None:
    """The counts shown are Jobspec.counts' own fields: a new one appears by itself."""
    from jobspec import load

    example = Path(__file__).resolve().parents[1] / "examples" / "hello-world.yaml"
    import json

    done = jobspec_cli("show", "--json", str(example))
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    expected = {k: v for k, v in load(str(example)).counts.to_dict().items() if v is not None}
    assert shown["counts"] == json.loads(json.dumps(expected))
    text = jobspec_cli("show", str(example)).stdout
    from jobspec.cli.show import ALWAYS_SHOWN

    assert all(f"\n  {key} " in text for key, value in expected.items() if value or key in ALWAYS_SHOWN)
    assert "memory" not in text  # hello-world asks for none: zero counts are left out


def test_show_of_a_bad_document_reports_its_problems(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nresources: []\n")
    done = jobspec_cli("show", str(bad))
    assert done.returncode == 2 and "Traceback" not in done.stderr and "resources" in done.stderr


BASH_COMPLETE = """
source "$1"
complete_words() {{
  COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _shtab_jobspec; echo "${{COMPREPLY[*]}}"
}}
{calls}
"""


def test_bash_completion_completes_commands_options_transformers_and_files(tmp_path: Path) -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    script = tmp_path / "completion" / "jobspec.bash"
    script.parent.mkdir()
    done = jobspec_cli("completion", "bash")
    assert done.returncode == 0, done.stderr
    script.write_text(done.stdout)
    (tmp_path / "job.yaml").write_text("version: 1\n")
    calls = [
        "complete_words jobspec va",
        "complete_words jobspec run -t lo",
        "complete_words jobspec spool c",
        "complete_words jobspec enqueue --sp",
        "complete_words jobspec show jo",
    ]
    run = subprocess.run(
        ["bash", "-c", BASH_COMPLETE.format(calls="\n".join(calls)), "bash", str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=30,
    )
    assert run.stdout.splitlines() == ["validate", "local", "create", "--spool", "job.yaml"], run.stderr


def test_zsh_completion_loads_and_names_every_command(tmp_path: Path) -> None:
    done = jobspec_cli("completion", "zsh")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("#compdef jobspec")
    assert all(f"\n    {words[0]}:'" in done.stdout for words in COMMANDS if len(words) == 1)
    assert "\n    run:'plan and run the steps of a jobspec'\n" in done.stdout  # the menu's one line
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: the script's syntax is not checked")
    (tmp_path / "_jobspec").write_text(done.stdout)
    check = subprocess.run(["zsh", "-n", str(tmp_path / "_jobspec")], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_an_unknown_shell_is_refused() -> None:
    done = jobspec_cli("completion", "fish")
    assert done.returncode == 2 and "invalid choice: 'fish'" in done.stderr


def test_setting_values_print_as_the_document_writes_them(tmp_path: Path) -> None:
    """sharedfs: false prints as YAML's false, not Python's False."""
    example = Path(__file__).resolve().parents[1] / "examples" / "pipeline.yaml"
    ran = jobspec_cli("run", "-t", "local", "--dry-run", str(example), cwd=example.parent)
    assert ran.returncode == 0, ran.stderr
    out = ran.stdout + ran.stderr
    assert "sharedfs = false" in out and "sharedfs back to its default (true)" in out
    assert "False" not in out and "True" not in out
    ran = jobspec_cli("run", "-t", "local", str(example), cwd=example.parent)
    assert ran.returncode == 0, ran.stderr
    assert "=> step set sharedfs=false OK" in ran.stdout + ran.stderr
