"""``jobspec import``: read the script, import it, print the jobspec and the report.

The thin layer around `convert.import_script`: files, standard input, the output file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import IO, Any

from jobspec.document.dump import dump_yaml
from jobspec.document.load import read_text
from jobspec.document.problems import JobspecError, Problem
from jobspec.importing.convert import import_script, strict_problems


def read_script(file: str, stdin: IO[bytes] | None = None) -> tuple[str, str]:
    """The text of a script (``-``: standard input) and its name for messages."""
    text, source = read_text(file, "batch script", stdin)
    if "\0" in text:
        raise JobspecError(Problem("not a text file (it holds NUL bytes): not a batch script", source=source))
    return text, source


def to_yaml(document: dict[str, Any]) -> str:
    """The document as YAML, the script as a literal block where YAML allows one."""
    return dump_yaml([document])


def run_import(file: str, output: str | None, strict: bool, options: Sequence[str]) -> int:
    """The command: 0 with the jobspec printed (or written to ``output``), 2 for bad input."""
    text, source = read_script(file)
    imported = import_script(text, source, list(options))
    report = imported.report()
    if report:
        print(report, file=sys.stderr)
    if strict and imported.dropped():
        raise JobspecError(strict_problems(imported))
    from jobspec.document.load import load

    load(dict(imported.document))  # every imported document is a valid jobspec
    out = to_yaml(imported.document)
    if output is None:
        sys.stdout.write(out)
        return 0
    tmp = f"{output}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(out)
    os.replace(tmp, output)
    print(f"jobspec: wrote {output}", file=sys.stderr)
    return 0
