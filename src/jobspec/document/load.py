"""Read a jobspec from a file, a string or a dict.

Parsing is the fast path: the C YAML loader when PyYAML has one. Line and column
numbers are only worked out when there is a problem to report (see `positions`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jobspec.document.model import Jobspec
from jobspec.document.problems import JobspecError, Problem

# A jobspec is a short text; anything this large is a mistake (a log, a binary).
MAX_BYTES = 16 * 1024 * 1024


def load(source: str | os.PathLike[str] | dict[str, Any] | Jobspec, *, check: bool = True) -> Jobspec:
    """Load a jobspec and (unless ``check=False``) validate it.

    ``source`` is a path, the YAML or JSON text itself, a dict, or a `Jobspec`.
    A string that names an existing file, or ends in .yaml/.yml/.json, is a path.
    Raises `JobspecError` listing every problem found.
    """
    if isinstance(source, Jobspec):
        jobspec = source
    elif isinstance(source, dict):
        jobspec = Jobspec(source)
    elif isinstance(source, os.PathLike) or _looks_like_path(source):
        jobspec = load_file(Path(source))
    else:
        jobspec = load_text(source)
    if check:
        from jobspec.document.validate import validate

        validate(jobspec, raise_error=True)
    return jobspec


def _looks_like_path(text: str) -> bool:
    if "\n" in text:
        return False
    return text.endswith((".yaml", ".yml", ".json")) or os.path.exists(text)


def load_file(path: Path) -> Jobspec:
    name = str(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise JobspecError(Problem("no such file", source=name)) from None
    except IsADirectoryError:
        raise JobspecError(Problem("is a directory, not a jobspec file", source=name)) from None
    except PermissionError:
        raise JobspecError(Problem("permission denied: cannot read the file", source=name)) from None
    except OSError as e:
        raise JobspecError(Problem(f"cannot read the file: {e.strerror}", source=name)) from None
    if len(raw) > MAX_BYTES:
        raise JobspecError(Problem(f"larger than {MAX_BYTES >> 20} MiB: not a jobspec", source=name))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise JobspecError(Problem("not UTF-8 text", source=name, line=line)) from None
    return load_text(text, source=name, path=path)


def load_text(text: str, source: str | None = None, path: Path | None = None) -> Jobspec:
    """Parse YAML or JSON text (JSON is tried first when the text looks like it)."""
    if not text.strip():
        raise JobspecError(Problem("the file is empty: expected a jobspec (version, resources, task)", source=source))
    stripped = text.lstrip()
    if stripped.startswith("{") or (path is not None and path.suffix == ".json"):
        data = _parse_json(text, source)
    else:
        data = _parse_yaml(text, source)
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        raise JobspecError(
            Problem(
                f"the document is {kind}: expected a mapping with version, resources and task",
                source=source,
                line=1,
                column=1,
            )
        )
    return Jobspec(data, source=source, text=text, path=path)


def _parse_json(text: str, source: str | None) -> Any:
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JobspecError(Problem(f"invalid JSON: {e.msg}", source=source, line=e.lineno, column=e.colno)) from None


def _parse_yaml(text: str, source: str | None) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "syntax error"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise JobspecError(Problem(f"invalid YAML: {what}", source=source, line=line, column=column)) from None
    except yaml.YAMLError as e:
        raise JobspecError(Problem(f"invalid YAML: {e}", source=source)) from None
