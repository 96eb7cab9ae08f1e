"""``jobspec import``: read the script, import it, print the jobspec and the report.

The thin layer around `convert.import_script`: files, standard input, the output file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from jobspec.document.load import MAX_BYTES, NotARegularFile, read_regular_file
from jobspec.document.problems import JobspecError, Problem
from jobspec.importing.convert import import_script, strict_problems


def read_script(file: str, stdin: IO[bytes] | None = None) -> tuple[str, str]:
    """The text of a script (``-``: standard input) and its name for messages."""
    source = "<stdin>" if file == "-" else file
    try:
        raw = (
            (stdin or sys.stdin.buffer).read(MAX_BYTES + 1)
            if file == "-"
            else read_regular_file(Path(file), MAX_BYTES + 1)
        )
    except FileNotFoundError:
        raise JobspecError(Problem("no such file", source=source)) from None
    except IsADirectoryError:
        raise JobspecError(Problem("is a directory, not a batch script", source=source)) from None
    except NotARegularFile:
        raise JobspecError(Problem("not a regular file (a FIFO, device or socket)", source=source)) from None
    except OSError as e:
        raise JobspecError(Problem(f"cannot read the file: {e.strerror}", source=source)) from None
    if len(raw) > MAX_BYTES:
        raise JobspecError(Problem(f"larger than {MAX_BYTES >> 20} MiB: not a batch script", source=source))
    if b"\0" in raw:
        raise JobspecError(Problem("not a text file (it holds NUL bytes): not a batch script", source=source))
    try:
        return raw.decode("utf-8"), source
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise JobspecError(Problem("not UTF-8 text: not a batch script", source=source, line=line)) from None


def to_yaml(document: dict[str, Any]) -> str:
    """The document as YAML, the script as a literal block where YAML allows one."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return str(yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True, width=120))


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
