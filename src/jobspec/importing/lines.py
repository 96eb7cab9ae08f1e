"""Finding a batch script's directives, as each scheduler finds them.

- ``#SBATCH`` (and the old ``#SLURM``): a line that starts with the word itself, up to the
  first command: the first line whose first non-blank character is not ``#`` (sbatch's
  ``_opt_batch_script``). Words are split as sbatch's ``get_argument`` does: quotes group,
  a backslash escapes, an unquoted ``#`` starts a comment.
- ``#PBS``: the same stop rule (qsub stops at the first executable line), same words.
- ``# flux:``: flux's RFC 36 sentinel, read by the Flux transformer's own reader (one
  reader for both: `jobspec.transformers.flux.directives.parse`).

Every word keeps its line and column, so a problem points at the directive itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    """One argument of a directive (or of the command line), and where it was written."""

    text: str
    line: int | None  # 1-based; None: the command line
    column: int | None  # 1-based; on the command line, the argument's position (1 = first)

    def place(self, source: str) -> str:
        if self.line is None:
            return f"<command line>: argument {self.column}"
        return f"{source}:{self.line}:{self.column}"


class DirectiveSyntaxError(ValueError):
    """A directive the scheduler itself could not read (an unmatched quote)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def is_command(line: str) -> bool:
    """Whether sbatch (or qsub) stops reading directives at ``line``: its first non-blank is not ``#``."""
    stripped = line.lstrip()
    return bool(stripped) and not stripped.startswith("#")


def sbatch_words(text: str, magic: tuple[str, ...] = ("#SBATCH", "#SLURM")) -> tuple[list[Word], int]:
    """The words of the directives starting with ``magic`` and the line of the first command
    (0 when there is none): as sbatch reads a script."""
    words: list[Word] = []
    for number, line in enumerate(text.split("\n"), start=1):
        word = next((m for m in magic if line.startswith(m)), None)
        if word is None:
            if is_command(line):
                return words, number
            continue
        words += list(split_argument_words(line, len(word), number))
    return words, 0


def split_argument_words(line: str, start: int, number: int) -> Iterator[Word]:
    """Slurm's ``get_argument``, repeated over a line from ``start``: each word with its column."""
    i, n = start, len(line)
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n or line[i] == "#":
            return
        begin = i
        out: list[str] = []
        quote = ""
        while i < n and (quote or not line[i].isspace()):
            ch = line[i]
            if quote:
                if ch == quote:
                    quote = ""
                else:
                    out.append(ch)
                i += 1
            elif ch == "\\":
                if i + 1 < n:
                    out.append(line[i + 1])
                i += 2
            elif ch in "\"'":
                quote = ch
                i += 1
            elif ch == "#":
                break
            else:
                out.append(ch)
                i += 1
        if quote:
            raise DirectiveSyntaxError(f"unmatched {quote} in the directive", number, begin + 1)
        if out:
            yield Word("".join(out), number, begin + 1)
        if i < n and line[i] == "#":
            return


def flux_words(text: str) -> list[Word]:
    """The words of a script's ``flux:`` directives, read by the Flux transformer's reader
    (`jobspec.transformers.flux.directives.parse`: flux batch's rules), each where it was
    written. DirectiveSyntaxError where flux batch would refuse the script."""
    from jobspec.transformers.flux.directives import DirectiveError, parse

    try:
        directives = parse(text)
    except DirectiveError as e:
        raise DirectiveSyntaxError(str(e), e.line, e.column or 1) from None
    return [Word(arg, d.line, column) for d in directives for arg, column in zip(d.args, d.columns, strict=True)]


def command_line_words(argv: list[str]) -> list[Word]:
    return [Word(arg, None, i) for i, arg in enumerate(argv, start=1)]
