"""Problems found in a jobspec, and the one exception that carries them.

Every complaint about user input becomes a `Problem` that names the source, the
place in the document (``task.transform[2].filename``), the line and column where
the source has them, and what would be right. A `JobspecError` carries all the
problems found at once, so a user fixes a file in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

DocPath = tuple[str | int, ...]  # a place in the document: ("task", "transform", 2)


def format_path(path: DocPath) -> str:
    """``("task", "transform", 2, "filename")`` -> ``task.transform[2].filename``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(document)"


@dataclass
class Problem:
    """One thing wrong with the input, with where it is."""

    message: str
    path: DocPath = ()
    source: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based

    def where(self) -> str:
        if self.source is None and self.line is None:
            return ""
        parts = [self.source or "<jobspec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        text = f"{format_path(self.path)}: {self.message}" if self.path else self.message
        where = self.where()
        return f"{where}: {text}" if where else text

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "path": format_path(self.path) if self.path else None,
            "source": self.source,
            "line": self.line,
            "column": self.column,
        }


@dataclass
class JobspecError(Exception):
    """Bad input: one or more problems, reported together (exit code 2)."""

    problems: Sequence[Problem] = field(default_factory=list)

    def __init__(self, problems: Problem | Iterable[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A " (did you mean 'x'?)" hint for a near-miss, or an empty string."""
    import difflib

    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def one_of(choices: Iterable[str]) -> str:
    return ", ".join(sorted(choices))


def shown(value: Any, limit: int = 80) -> str:
    """``repr(value)``, bounded: a message never grows with the value it quotes."""
    import reprlib

    short = reprlib.Repr()
    short.maxstring = short.maxother = limit
    short.maxlist = short.maxdict = short.maxtuple = short.maxset = 6
    short.maxlevel = 3
    return short.repr(value)
