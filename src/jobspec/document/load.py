"""Read a jobspec from a file, a string or a dict.

Parsing is the fast path: the C YAML loader when PyYAML has one. Line and column
numbers are only worked out when there is a problem to report (see `positions`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

from jobspec.document.model import Jobspec
from jobspec.document.parse import parse_json, parse_yaml
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
        jobspec = Jobspec.from_data(source)
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
    text, name = read_text(path)
    return load_text(text, source=name, path=path)


def load_stream(stream: IO[bytes], source: str = "<stdin>") -> Jobspec:
    """A jobspec from a byte stream (standard input), read up to the same size limit."""
    text, _ = read_text("-", stdin=stream)
    return load_text(text, source=source)


def read_text(file: str | os.PathLike[str], what: str = "jobspec", stdin: IO[bytes] | None = None) -> tuple[str, str]:
    """The text of a file (``-``: standard input, or ``stdin``) and its name for messages.
    JobspecError saying why it cannot be a ``what``: missing, a folder, not a regular
    file, unreadable, larger than MAX_BYTES, not UTF-8."""
    name = "<stdin>" if file == "-" else str(file)
    try:
        if file == "-":
            raw = (stdin or sys.stdin.buffer).read(MAX_BYTES + 1)
        else:
            raw = read_regular_file(Path(file), MAX_BYTES + 1)
    except NotARegularFile as e:
        raise JobspecError(Problem(str(e), source=name)) from None
    except FileNotFoundError:
        raise JobspecError(Problem("no such file", source=name)) from None
    except IsADirectoryError:
        raise JobspecError(Problem(f"is a directory, not a {what}", source=name)) from None
    except PermissionError:
        raise JobspecError(Problem("permission denied: cannot read the file", source=name)) from None
    except OSError as e:
        raise JobspecError(Problem(f"cannot read the file: {e.strerror}", source=name)) from None
    if len(raw) > MAX_BYTES:
        raise JobspecError(Problem(f"larger than {MAX_BYTES >> 20} MiB: not a {what}", source=name))
    try:
        return raw.decode("utf-8"), name
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise JobspecError(Problem(f"not UTF-8 text: not a {what}", source=name, line=line)) from None


class NotARegularFile(OSError):
    pass


def read_regular_file(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file. A FIFO, device or socket is refused
    without blocking on it (opened non-blocking, checked, then read)."""
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            raise NotARegularFile("not a regular file (a FIFO, device or socket)")
        os.set_blocking(fd, True)
        # Asked for the size it has (and a byte more, to see it grew), not for ``limit``:
        # a read of 16 MiB allocates that much first, five times the cost of the read.
        chunks = []
        want = min(limit, info.st_size + 1)
        while want > 0:
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
            want = min(limit, max(want - len(chunk), 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


def load_text(text: str, source: str | None = None, path: Path | None = None) -> Jobspec:
    """Parse YAML or JSON text (JSON is tried first when the text looks like it)."""
    if not text.strip():
        raise JobspecError(Problem("the file is empty: expected a jobspec (version, resources, task)", source=source))
    stripped = text.lstrip()
    if stripped.startswith("{") or (path is not None and path.suffix == ".json"):
        data = parse_json(text, source)
    else:
        data = parse_yaml(text, source)
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
    return Jobspec.from_data(data, source=source, text=text, path=path)
