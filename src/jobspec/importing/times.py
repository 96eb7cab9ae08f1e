"""Time limits as each scheduler writes them, in seconds (None: unlimited).

Each function raises ValueError with the forms it takes when the text is none of them.
"""

from __future__ import annotations

import re

SLURM_FORMS = (
    "minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes, "
    "days-hours:minutes:seconds, or UNLIMITED"
)


def _valid_slurm_timespec(text: str) -> bool:
    """Slurm's ``_is_valid_timespec`` (src/common/parse_time.c)."""
    digits = dashes = colons = 0
    in_digit = False
    for ch in text:
        if ch.isdigit() and ch.isascii():
            if not in_digit:
                digits += 1
                in_digit = True
        elif ch == "-":
            in_digit = False
            dashes += 1
            if colons:
                return False
        elif ch == ":":
            in_digit = False
            colons += 1
        else:
            return False
    if not digits or dashes > 1 or colons > 2:
        return False
    if dashes:
        return not ((colons == 1 and digits < 3) or (colons == 2 and digits < 4))
    return not ((colons == 1 and digits < 2) or (colons == 2 and digits < 3))


def _scan(text: str, separators: str) -> list[int]:
    """The numbers ``sscanf("%d<sep>%d...")`` reads: stops at the first that is missing."""
    numbers: list[int] = []
    rest = text
    for sep in ["", *separators]:
        if sep:
            if not rest.startswith(sep):
                break
            rest = rest[len(sep) :]
        match = re.match(r"\d+", rest)
        if not match:
            break
        numbers.append(int(match.group()))
        rest = rest[match.end() :]
    return numbers


def slurm_seconds(text: str) -> int | None:
    """``--time`` as sbatch reads it (``time_str2secs``); None for unlimited."""
    if text.strip().lower() in ("-1", "infinite", "unlimited"):
        return None
    if not _valid_slurm_timespec(text):
        raise ValueError(f"a time limit is {SLURM_FORMS}")
    if "-" in text:
        d, h, m, s = ([*_scan(text, "-::"), 0, 0, 0, 0])[:4]
        return d * 86400 + h * 3600 + m * 60 + s
    numbers = _scan(text, "::")
    if len(numbers) == 3:
        return numbers[0] * 3600 + numbers[1] * 60 + numbers[2]
    minutes, seconds = ([*numbers, 0, 0])[:2]
    return minutes * 60 + seconds


PBS_FORMS = "seconds, or [[[days:]hours:]minutes:]seconds (walltime=01:30:00)"


def pbs_seconds(text: str) -> int:
    """A PBS ``walltime``: seconds, or ``[[[DD:]HH:]MM:]SS`` (seconds may have a fraction)."""
    parts = text.strip().split(":")
    if not text.strip() or len(parts) > 4 or not all(re.fullmatch(r"\d+", p) for p in parts[:-1]):
        raise ValueError(f"a walltime is {PBS_FORMS}")
    if not re.fullmatch(r"\d+(\.\d*)?", parts[-1]):
        raise ValueError(f"a walltime is {PBS_FORMS}")
    total = float(parts[-1])
    for unit, part in zip((60, 3600, 86400), reversed(parts[:-1]), strict=False):
        total += unit * int(part)
    return int(-(-total // 1))


FSD_FORMS = "a number of minutes, or a duration with a unit s, m, h or d (30s, 1.5h, 2d)"
_FSD_UNITS = {"": 60.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def flux_seconds(text: str) -> float | None:
    """flux's ``--time-limit``: minutes without a unit, else Flux Standard Duration; None for inf."""
    value = text.strip().lower()
    if value in ("inf", "infinity"):
        return None
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([smhd]?)", value)
    if not match:
        raise ValueError(f"a time limit is {FSD_FORMS}")
    return float(match.group(1)) * _FSD_UNITS[match.group(2)]
