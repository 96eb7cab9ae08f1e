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


def test_an_element_the_system_refuses_stops_the_array_and_keeps_the_ids_submitted() -> None:
    import io

    import yaml
    from support import HELLO

    from jobspec.engine.plan import plan
    from jobspec.engine.run import Reporter, execute
    from jobspec.plugin import StepContext, StepError, StepOutput, SubmitStep, Transformer

    class Refusing(SubmitStep):
        def submit(self, ctx: StepContext) -> StepOutput:
            if ctx.array_index == 2:
                raise StepError("the queue is full")
            return StepOutput(f"j{ctx.array_index}", job_id=f"j{ctx.array_index}")

    class Picky(Transformer):
        name = "picky"
        description = "refuses the third job"

    Picky.register_step(Refusing)
    document = yaml.safe_load(HELLO)
    document["task"]["transform"] = [{"step": "submit", "array": "0-3"}]
    result = execute(plan(document, Picky()), Reporter(stream=io.StringIO(), color=False))
    assert result.error == "step 1 (submit) failed: element 2 of the array: the queue is full"
    assert result.steps[0].details["array"] == {"0": "j0", "1": "j1"}
    assert result.job_ids == ["j0", "j1"]  # jobspec run names them as submitted
