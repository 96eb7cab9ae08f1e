"""The failure of a step while running (exit code 1), as opposed to bad input."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobspec.steps.base import StepOutput


class StepError(Exception):
    """A step could not do its work; the message says why, for the user.

    ``output`` keeps what the step did produce before failing (a job that was
    submitted and then failed still has an id the result must show).
    """

    def __init__(self, message: str, output: StepOutput | None = None) -> None:
        super().__init__(message)
        self.output = output
