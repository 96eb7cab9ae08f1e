"""Reading a list of words as getopt_long does, against a table of options.

sbatch and qsub both read their directives this way (the words of every directive line,
then the command line's): ``--name=value``, ``--name value``, ``-n4``, ``-n 4``, bundled
flags (``-HO``), and long names shortened to a unique prefix (``--part=debug``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from jobspec.importing.lines import Word

REQUIRED, NONE, OPTIONAL = "required", "none", "optional"


@dataclass(frozen=True)
class Spec:
    name: str  # the long name, without --
    arg: str  # REQUIRED, NONE or OPTIONAL
    short: str = ""


@dataclass(frozen=True)
class Found:
    """One option as read: its spec (None when unknown), value, and the word it starts at."""

    spec: Spec | None
    written: str  # the name as written (--part, -p)
    value: str | None
    word: Word


class NotAnOption(ValueError):
    def __init__(self, message: str, word: Word) -> None:
        super().__init__(message)
        self.word = word


def table(text: str) -> dict[str, Spec]:
    """``name:arg[:short]`` entries, one per word (arg: r, n or o)."""
    kinds = {"r": REQUIRED, "n": NONE, "o": OPTIONAL}
    out = {}
    for entry in text.split():
        name, arg, *short = entry.split(":")
        out[name] = Spec(name, kinds[arg], short[0] if short else "")
    return out


def lookup(specs: Mapping[str, Spec], name: str) -> Spec | None:
    """The spec named exactly, else the one option ``name`` is a unique prefix of (getopt_long)."""
    if name in specs:
        return specs[name]
    matches = [s for key, s in specs.items() if key.startswith(name)]
    return matches[0] if name and len({(m.name, m.arg) for m in matches}) == 1 else None


def read(
    words: list[Word],
    specs: Mapping[str, Spec],
    what: str,
    long_prefix: str = "--",
    is_value: Callable[[str], bool] = lambda w: not w.startswith("-"),
) -> Iterator[Found]:
    """Each option among ``words``; NotAnOption for a word that is none (``what`` refuses it)."""
    shorts = {s.short: s for s in specs.values() if s.short}
    i = 0
    while i < len(words):
        word = words[i]
        text = word.text
        i += 1
        if text.startswith(long_prefix) and len(text) > len(long_prefix):
            name, eq, value = text[len(long_prefix) :].partition("=")
            spec = lookup(specs, name)
            if spec is None:
                if not eq and i < len(words) and is_value(words[i].text):
                    value, i = words[i].text, i + 1  # an unknown option's value, most likely
                yield Found(None, long_prefix + name, value if (eq or value) else None, word)
                continue
            if spec.arg == REQUIRED and not eq:
                if i >= len(words):
                    raise NotAnOption(f"{long_prefix}{spec.name} needs a value ({long_prefix}{spec.name}=VALUE)", word)
                value, i = words[i].text, i + 1
            elif spec.arg == NONE and eq:
                raise NotAnOption(f"{long_prefix}{spec.name} takes no value: write {long_prefix}{spec.name}", word)
            yield Found(spec, long_prefix + name, value if (eq or spec.arg == REQUIRED) else None, word)
        elif text.startswith("-") and len(text) > 1 and not text.startswith("--"):
            j = 1
            while j < len(text):
                letter = text[j]
                spec = shorts.get(letter)
                if spec is None:
                    attached: str | None = text[j + 1 :] or None
                    if attached is None and j == 1 and i < len(words) and is_value(words[i].text):
                        attached, i = words[i].text, i + 1  # an unknown option's value, most likely
                    yield Found(None, f"-{letter}", attached, word)
                    break
                if spec.arg == NONE:
                    yield Found(spec, f"-{letter}", None, word)
                    j += 1
                    continue
                rest = text[j + 1 :]
                if rest or spec.arg == OPTIONAL:
                    yield Found(spec, f"-{letter}", rest or None, word)
                elif i < len(words):
                    yield Found(spec, f"-{letter}", words[i].text, word)
                    i += 1
                else:
                    raise NotAnOption(f"-{letter} needs a value (-{letter} VALUE)", word)
                break
        else:
            raise NotAnOption(f"{text!r} is not an option: {what} refuses the script", word)
