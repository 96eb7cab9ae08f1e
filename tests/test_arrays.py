"""Reading a job step's ``array`` field, as Slurm writes arrays."""

from __future__ import annotations

import pytest

from jobspec.plugin.arrays import array_indexes


@pytest.mark.parametrize(
    ("spec", "indexes"),
    [("0-3", [0, 1, 2, 3]), ("1,3,5-7", [1, 3, 5, 6, 7]), ("0-15:4", [0, 4, 8, 12]), ("4", [4]), ("2,2,1", [2, 1])],
)
def test_indexes(spec: str, indexes: list[int]) -> None:
    assert array_indexes(spec) == indexes


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("3-1", "is no range"),
        ("x", "cannot read 'x'"),
        ("-1", "cannot read"),
        ("0-9%2", "%N limit"),
        ("0-99999", "more than"),
    ],
)
def test_bad_arrays_say_what_is_right(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        array_indexes(spec)
    assert "0-9" in str(refused.value) or "more than" in message
