"""What can go wrong once a run has started, as the contract names it.

Bad input is a `jobspec.document.problems.JobspecError` (exit code 2) and is found
before anything runs. These are the failures after that point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobspec.plugin.steps import StepOutput


class StepError(Exception):
    """A step could not do its work; the message says why, for the user (exit code 1).

    ``output`` keeps what the step did produce before failing: a job that was
    submitted and then failed still has an id the result must show.
    """

    def __init__(self, message: str, output: StepOutput | None = None) -> None:
        super().__init__(message)
        self.output = output


class TransformerError(RuntimeError):
    """The system a transformer drives refused a request or could not be reached.

    Each backend's own error (``SlurmError``, ``FluxError``, ``KubeError``) derives
    from it, so the job life cycle and the command line catch one type.
    """


class JobLookupError(Exception):
    """No job with that id is known (exit code 2 on the command line)."""


class TransformerUnavailable(Exception):
    """The chosen system cannot be reached from here; nothing was started (exit code 1)."""
