"""Job arrays: a job step's ``array`` field (``0-9``, ``1,3,5-7``, ``0-15:4``, as Slurm
writes them) runs the job once per index, each with JOBSPEC_ARRAY_INDEX, on every system."""

from __future__ import annotations

MAX_ELEMENTS = 10_000  # more jobs than this from one step is a mistake, not a plan


def array_indexes(spec: str) -> list[int]:
    """The indexes ``spec`` names, in order, each once. ValueError saying what is right."""
    found: dict[int, None] = {}
    right = "write indexes, ranges and steps like 0-9, 1,3,5-7 or 0-15:4"
    if "%" in spec:
        raise ValueError(f"array {spec!r}: a %N limit on elements running at once is not supported; {right}")
    for part in spec.replace(" ", "").split(","):
        first, _, rest = part.partition("-")
        last, _, step = rest.partition(":")
        try:
            low = int(first)
            high = int(last) if rest else low
            stride = int(step) if step else 1
        except ValueError:
            raise ValueError(f"array {spec!r}: cannot read {part!r}; {right}") from None
        if low < 0 or high < low or stride < 1 or (step and not rest):
            raise ValueError(f"array {spec!r}: {part!r} is no range of indexes from 0 up; {right}")
        for index in range(low, high + 1, stride):
            found[index] = None
            if len(found) > MAX_ELEMENTS:
                raise ValueError(f"array {spec!r} names more than {MAX_ELEMENTS:,} jobs")
    return list(found)
