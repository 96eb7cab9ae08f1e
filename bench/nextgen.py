"""The next-generation form: loading it (told apart, checked, lowered into the one model)
beside loading a v1 jobspec of the same size, in process and from the command line.

    python bench/nextgen.py
"""

from __future__ import annotations

import copy
import sys
import time

import yaml
from timing import BIN, ROOT, rate_row, side_by_side, time_command

from jobspec.document.model import Jobspec
from jobspec.document.validate import validate

N = 5_000
NEXTGEN = ROOT / "examples" / "nextgen" / "pipeline.yaml"
V1 = ROOT / "examples" / "pipeline.yaml"


def _rate(data: dict) -> float:
    documents = [copy.deepcopy(data) for _ in range(100)]
    assert not validate(Jobspec.from_data(documents[0]))  # schemas compiled once, as a service would
    started = time.perf_counter()
    for i in range(N):
        assert not validate(Jobspec.from_data(copy.copy(documents[i % 100])))
    return N / (time.perf_counter() - started)


def main() -> None:
    nextgen, v1 = (yaml.safe_load(p.read_text()) for p in (NEXTGEN, V1))
    rate_row("next-generation: check + lower + validate", _rate(nextgen), "v1: validate", _rate(v1))
    jobspec = str(BIN / "jobspec")
    side_by_side(
        "jobspec validate nextgen/pipeline.yaml",
        lambda: time_command([jobspec, "validate", str(NEXTGEN)]),
        lambda: time_command([jobspec, "validate", str(V1)]),
        "jobspec validate pipeline.yaml",
    )
    side_by_side(
        "jobspec run --dry-run nextgen/pipeline.yaml",
        lambda: time_command([jobspec, "run", "-t", "local", "--dry-run", str(NEXTGEN)]),
        lambda: time_command([jobspec, "run", "-t", "local", "--dry-run", str(V1)]),
        "... pipeline.yaml",
    )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
