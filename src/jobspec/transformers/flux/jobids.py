"""Flux job ids (RFC 19 FLUIDs): 64-bit integers, shown in F58 form (``ƒ`` and base58).

Flux prints ``ƒ`` where the locale allows UTF-8 and ``f`` otherwise (or with
FLUX_F58_FORCE_ASCII); both are read here, and ids are always given back with ``ƒ``.
Decimal and ``0x`` hexadecimal forms are read too, as ``flux job id`` does.
"""

from __future__ import annotations

import re

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
PREFIX = "ƒ"
ASCII_PREFIX = "f"
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
MAX_ID = 2**64 - 1
# 2**64 needs 11 base58 digits
_F58 = re.compile(rf"^[{PREFIX}{ASCII_PREFIX}][{ALPHABET}]{{1,11}}$")


def encode(job_id: int) -> str:
    """``ƒ`` and the base58 digits of ``job_id``, most significant first (``ƒ1`` for 0)."""
    if not 0 <= job_id <= MAX_ID:
        raise ValueError(f"a Flux job id is a 64-bit unsigned number, not {job_id}")
    digits = []
    while True:
        job_id, rest = divmod(job_id, 58)
        digits.append(ALPHABET[rest])
        if job_id == 0:
            break
    return PREFIX + "".join(reversed(digits))


def is_f58(text: str) -> bool:
    """Whether ``text`` is an id in F58 form (``ƒ`` or ``f`` then base58 digits)."""
    return bool(_F58.match(text)) and _decode_f58(text) <= MAX_ID


def _decode_f58(text: str) -> int:
    value = 0
    for c in text[1:]:
        value = value * 58 + _VALUE[c]
    return value


def decode(text: str) -> int:
    """The number behind a job id in F58, decimal or ``0x`` hexadecimal form."""
    text = text.strip()
    if _F58.match(text):
        value = _decode_f58(text)
    elif text.isdigit():
        value = int(text)
    elif text.lower().startswith("0x") and re.fullmatch(r"[0-9a-fA-F]+", text[2:]):
        value = int(text[2:], 16)
    else:
        raise ValueError(f"'{text}' is not a Flux job id (they look like ƒ2oLkTLb)")
    if value > MAX_ID:
        raise ValueError(f"'{text}' is too large for a Flux job id")
    return value


def normalise(text: str) -> str:
    """Any form of a job id, in the ``ƒ`` form jobspec reports."""
    return encode(decode(text))
