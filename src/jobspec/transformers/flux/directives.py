"""A batch script's ``# flux:`` directives (RFC 36), applied as ``flux batch`` applies them.

Reading follows flux-core's DirectiveParser (flux/job/directives.py): the sentinel is
any run of non-word characters then ``flux:`` or ``FLUX:``; every directive of a file
uses the first one's sentinel; the words are split as a POSIX shell would (shlex, with
punctuation characters, ``#`` starting a comment); a directive's first word must be an
option; a ``'''``/``\"\"\"`` pair on one line quotes what it holds. Directives end at the
first non-blank line that does not start with the sentinel's prefix, and a directive
after that is an error ("orphan"), as are unknown directives and unmatched quotes.

Applying follows ``flux batch``: the directives are options read in order, then the
command line's override them. Here the document is the command line: a directive sets
what the document leaves unsaid (a queue, a bank, shell options, attributes, the
environment, resource limits, dependencies, output files, and the name, time limit and
working directory when the document names none). A directive that disagrees with what
the document says (its resources above all: the document decides the allocation) is
refused at plan time rather than silently overridden, and so is an option jobspec
cannot carry to Flux, with the reason.
"""

from __future__ import annotations

import collections
import fnmatch
import json
import re
import shlex
import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from jobspec.transformers.flux import limits

SENTINEL = re.compile(r"^([^\w]*)((?:flux|FLUX):)(.*)$")
TRIPLE = re.compile(r"""((?:["']){3})(.*)\1""")


class DirectiveError(ValueError):
    """A directive flux batch would refuse, or jobspec cannot honour; ``line`` is 1-based,
    ``column`` (1-based) where the directive's words start, when known."""

    def __init__(self, message: str, line: int, column: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Directive:
    args: list[str]
    line: int
    columns: list[int] = field(default_factory=list)  # 1-based, of each arg (where it was written)


def parse(script: str) -> list[Directive]:
    """The ``flux:`` directives of ``script``, in order (DirectiveError as flux batch refuses)."""
    directives: list[Directive] = []
    sentinel: str | None = None
    prefix = ""
    disabled_after = 0
    for number, line in enumerate(script.splitlines(), start=1):
        match = SENTINEL.match(line)
        if not match:
            if sentinel is not None and not disabled_after and line.strip() and not line.startswith(prefix.rstrip()):
                disabled_after = number - 1
            continue
        if disabled_after:
            raise DirectiveError(
                f"orphan '{match.group(2)}' directive: directives end at line {disabled_after} (flux batch refuses it)",
                number,
            )
        if sentinel is None:
            sentinel, prefix = match.group(1) + match.group(2), match.group(1)
        elif match.group(1) + match.group(2) != sentinel:
            raise DirectiveError(
                f"sentinel changed from '{sentinel}' to '{match.group(1) + match.group(2)}': every directive of a "
                "file uses the first one's (flux batch refuses it)",
                number,
            )
        value = match.group(3)
        column = len(match.group(1)) + len(match.group(2)) + 1  # where the words start
        if value.count('"""') == 2 or value.count("'''") == 2:
            value = TRIPLE.sub(lambda m: shlex.quote(m.group(2)), value)
        elif '"""' in value or "'''" in value:
            raise DirectiveError("multi-line triple-quoted directives are not supported by jobspec", number)
        lexer = shlex.shlex(value, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.escapedquotes = "\"'"
        try:
            args = list(lexer)
        except ValueError as e:
            raise DirectiveError(f"{value.strip()}: {e}", number, column) from None
        if args and not args[0].startswith("-"):
            raise DirectiveError(f"unknown directive: {value.strip()} (flux batch refuses it)", number, column)
        if args:
            directives.append(Directive(args, number, _columns(value, args, column)))
    return directives


def _columns(value: str, args: list[str], start: int) -> list[int]:
    """Where each of ``args`` was written in ``value`` (which starts at column ``start``):
    the next place its text appears, else just past the one before (a quoted word)."""
    columns, search = [], 0
    for arg in args:
        found = value.find(arg, search)
        columns.append(start + (found if found >= 0 else search))
        search = found + len(arg) if found >= 0 else search
    return columns


# flux batch's options: long name -> (short letter, takes a value)
OPTIONS: dict[str, tuple[str | None, bool]] = {
    "nodes": ("N", True),
    "nslots": ("n", True),
    "cores-per-slot": ("c", True),
    "gpus-per-slot": ("g", True),
    "exclusive": ("x", False),
    "time-limit": ("t", True),
    "bank": ("B", True),
    "queue": ("q", True),
    "job-name": (None, True),
    "setopt": ("o", True),
    "setattr": ("S", True),
    "env": (None, True),
    "env-remove": (None, True),
    "rlimit": (None, True),
    "dependency": (None, True),
    "cwd": (None, True),
    "output": (None, True),
    "error": (None, True),
    "label-io": ("l", False),
    "unbuffered": ("u", False),
    "urgency": (None, True),
    "requires": (None, True),
    "begin-time": (None, True),
    "signal": (None, True),
    "add-file": (None, True),
    "env-file": (None, True),
    "input": (None, True),
    "flags": (None, True),
    "conf": (None, True),
    "broker-opts": (None, True),
    "taskmap": (None, True),
    "wrap": (None, False),
    "dry-run": (None, False),
    "quiet": (None, False),
    "dump": (None, True),
}
SHORT = {short: name for name, (short, _) in OPTIONS.items() if short}
NOT_CARRIED = {
    "urgency": "jobspec submits at Flux's default urgency",
    "requires": "write the constraint as attributes.system.constraints (RFC 31) in the document",
    "begin-time": "jobspec does not carry begin-time dependencies",
    "signal": "jobspec does not carry a signal before the time limit",
    "add-file": "write the file with a write step",
    "env-file": "set the variables in attributes.system.environment",
    "input": "jobspec does not redirect a batch job's input",
    "flags": "jobspec chooses the submit flags",
    "conf": "jobspec does not configure the batch job's instance",
    "broker-opts": "jobspec does not pass options to the batch job's broker",
    "taskmap": "a batch job has one broker a node: there is no task map to choose",
    "wrap": "the script is the batch step's file",
    "dry-run": "use jobspec run --dry-run",
    "quiet": "jobspec decides what it prints",
    "dump": "jobspec does not dump the batch job's instance",
    "unbuffered": "jobspec does not change a batch job's output buffering",
}


def options(directives: list[Directive]) -> Iterator[tuple[str, str | None, int]]:
    """(long name, value, line) of every option the directives give, read as argparse reads
    flux batch's: ``--name=value``, ``--name value``, a unique prefix of a long name,
    ``-Nvalue``, ``-N value`` and flags run together (``-xl``)."""
    for directive in directives:
        args, line = directive.args, directive.line
        i = 0
        while i < len(args):
            arg = args[i]
            i += 1
            if arg.startswith("--"):
                written, eq, value = arg[2:].partition("=")
                name = _long_name(written, line)
                if OPTIONS[name][1] and not eq:
                    if i >= len(args):
                        raise DirectiveError(f"{arg} needs a value", line)
                    value, i = args[i], i + 1
                elif eq and not OPTIONS[name][1]:
                    raise DirectiveError(f"{arg}: --{name} takes no value", line)
                yield name, value if OPTIONS[name][1] else None, line
            elif arg.startswith("-") and len(arg) > 1:
                j = 1
                while j < len(arg):
                    name = SHORT.get(arg[j], "")
                    if not name:
                        raise DirectiveError(f"{arg}: -{arg[j]} is not a flux batch option", line)
                    j += 1
                    if not OPTIONS[name][1]:
                        yield name, None, line
                        continue
                    value = arg[j:]
                    if not value:
                        if i >= len(args):
                            raise DirectiveError(f"{arg} needs a value", line)
                        value, i = args[i], i + 1
                    yield name, value, line
                    break
            else:
                raise DirectiveError(f"{arg}: the script's arguments go on flux batch's command line only", line)


def _long_name(written: str, line: int) -> str:
    """The option a long name names: itself, or the one option it is a prefix of (as argparse)."""
    if written in OPTIONS:
        return written
    matches = [name for name in OPTIONS if name.startswith(written)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise DirectiveError(f"--{written} is ambiguous: {', '.join('--' + m for m in matches)}", line)
    raise DirectiveError(f"--{written}: not a flux batch option", line)


def keyval(text: str) -> tuple[str, Any]:
    """``key[=value]`` as ``--setopt``/``--setattr`` read it: the value JSON when it parses, 1 when absent."""
    key, eq, value = text.partition("=")
    if not eq:
        return key, 1
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@dataclass
class Applied:
    """What a batch script's directives add to its Flux job (`jobspec_v1.batch_job`)."""

    name: str | None = None
    duration: float | None = None
    cwd: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    label_io: bool = False
    system: dict[str, Any] = field(default_factory=dict)  # attributes.system keys, dotted paths set in order
    user: dict[str, Any] = field(default_factory=dict)
    shell_options: dict[str, Any] = field(default_factory=dict)
    env_rules: list[str] = field(default_factory=list)
    rlimit_rules: list[str] = field(default_factory=list)
    dependencies: list[dict[str, str]] = field(default_factory=list)
    resources: dict[str, tuple[Any, int]] = field(default_factory=dict)  # option -> (value, line), to compare
    lines: dict[str, int] = field(default_factory=dict)  # where each setting was made (the last time)


FSD = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)([smhd]?)$")
FSD_UNITS = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}  # flux batch -t: minutes without a unit


def duration(value: str, line: int) -> float:
    if value in ("inf", "infinity", "INF", "INFINITY"):
        return 0.0
    match = FSD.match(value)
    if not match:
        raise DirectiveError(f"-t {value}: a time limit is a number with s, m, h or d (minutes without)", line)
    return float(match.group(1)) * FSD_UNITS[match.group(2)]


def apply(script: str) -> Applied:
    """Everything the script's directives ask for (DirectiveError for one jobspec cannot honour)."""
    applied = Applied()
    for name, value, line in options(parse(script)):
        text = value or ""
        applied.lines[name] = line
        if name in NOT_CARRIED:
            raise DirectiveError(f"--{name}: not carried to Flux by jobspec: {NOT_CARRIED[name]}", line)
        if name in ("nodes", "nslots", "cores-per-slot", "gpus-per-slot"):
            if not text.isdigit() or int(text) < 1:
                raise DirectiveError(f"--{name}={text}: a positive whole number", line)
            applied.resources[name] = (int(text), line)
        elif name == "exclusive":
            applied.resources[name] = (True, line)
        elif name == "time-limit":
            applied.duration = duration(text, line)
        elif name in ("bank", "queue"):
            applied.system[name] = text
            applied.lines[name] = line
        elif name == "job-name":
            applied.name = text
        elif name == "cwd":
            applied.cwd = text
        elif name in ("output", "error"):
            setattr(applied, "stdout" if name == "output" else "stderr", text)
        elif name == "label-io":
            applied.label_io = True
        elif name == "setopt":
            key, val = keyval(text)
            if key.startswith("^"):
                raise DirectiveError(f"--setopt={text}: options read from a file are not carried by jobspec", line)
            applied.shell_options[key] = val
            applied.lines[f"-o {key}"] = line
        elif name == "setattr":
            key, val = keyval(text)
            if key.startswith("^"):
                raise DirectiveError(f"--setattr={text}: attributes read from a file are not carried by jobspec", line)
            key = f"attributes{key}" if key.startswith(".") else key
            key = key.removeprefix("attributes.")
            if key.startswith("user."):
                _set_dotted(applied.user, key[len("user.") :], val)
            else:
                key = key.removeprefix("system.")
                _set_dotted(applied.system, key, val)
                applied.lines[key.split(".")[0]] = line
        elif name in ("env", "env-remove"):
            rule = f"-{text}" if name == "env-remove" else text
            if rule.startswith("^") or "{{" in rule:
                raise DirectiveError(f"--{name}={text}: env files and templates are not carried by jobspec", line)
            applied.env_rules.append(rule)
        elif name == "rlimit":
            for rule in text.split(","):
                problem = limits.rule_problem(rule) if rule else None
                if problem:
                    raise DirectiveError(f"--rlimit={text}: {problem}", line)
            applied.rlimit_rules.append(text)
        elif name == "dependency":
            scheme, colon, target = text.partition(":")
            if not colon or not scheme or not target or "?" in target:
                raise DirectiveError(f"--dependency={text}: jobspec carries scheme:value dependencies", line)
            applied.dependencies.append({"scheme": scheme, "value": target})
    return applied


def environment(rules: list[str], base: Mapping[str, str]) -> dict[str, str]:
    """The submitter's environment ``base`` after ``--env`` rules, as flux-core's
    get_filtered_environment makes it: ``-PATTERN`` removes (a glob, or ``/regex/``),
    ``VAR`` brings matching variables back from ``base``, ``VAR=VALUE`` sets, ``$NAME``
    in VALUE taken from the environment built so far, else from ``base``."""
    env = dict(base)
    for rule in rules:
        if rule.startswith("-"):
            matches = _matcher(rule[1:])
            env = {k: v for k, v in env.items() if not matches(k)}
            continue
        var, eq, value = rule.partition("=")
        if not eq:
            matches = _matcher(var)
            env.update({k: v for k, v in base.items() if matches(k) and k not in env})
            continue
        try:
            lookup: collections.ChainMap[str, str] = collections.ChainMap(env, dict(base))
            env[var] = string.Template(value).substitute(lookup)
        except (KeyError, ValueError):
            env[var] = value  # flux submit refuses it; checked at plan time (`apply`)
    return env


def _matcher(pattern: str) -> Callable[[str], bool]:
    regex = re.compile(pattern[1:].rstrip("/") if pattern.startswith("/") else fnmatch.translate(pattern))
    return lambda name: regex.match(name) is not None


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    for part in parts[:-1]:
        child = tree.get(part)
        if not isinstance(child, dict):
            child = tree[part] = {}
        tree = child
    tree[parts[-1]] = value
