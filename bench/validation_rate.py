"""In-process validation rate: jobspecs per second through `jobspec.document.validate`
(schema and rules) beside the reference `jsonschema` validator checking the schema alone.

    python bench/validation_rate.py

Target (issue 2): at least 10,000 jobspecs per second.
"""

from __future__ import annotations

import copy
import time

import yaml
from timing import ROOT, rate_row

from jobspec.document.model import Jobspec
from jobspec.document.validate import schema, validate

N = 20_000


def main() -> None:
    data = yaml.safe_load((ROOT / "examples" / "pipeline.yaml").read_text())
    documents = [copy.deepcopy(data) for _ in range(200)]
    validate(Jobspec(documents[0]))  # compile the schema once, as a long-running process would

    started = time.perf_counter()
    for i in range(N):
        assert not validate(Jobspec(documents[i % 200]))
    ours = N / (time.perf_counter() - started)

    import jsonschema

    reference = jsonschema.Draft7Validator(schema())
    n = N // 10
    started = time.perf_counter()
    for i in range(n):
        reference.validate(documents[i % 200])
    theirs = n / (time.perf_counter() - started)
    rate_row("jobspec validate (schema + rules)", ours, "jsonschema (schema only)", theirs)


if __name__ == "__main__":
    main()
