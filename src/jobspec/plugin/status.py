"""A job's state as its system reports it: the one shape every transformer returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

FINAL_STATES = ("completed", "failed", "cancelled")


@dataclass
class JobStatus:
    job_id: str
    state: str  # pending, running, completed, failed, cancelled
    exit_code: int | None = None
    transformer: str = ""
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def failure(self) -> str:
        """The one sentence for a job that did not complete: "job 42 failed with exit code 3"."""
        reason = f" ({self.reason})" if self.reason else ""
        if self.state == "failed" and self.exit_code is not None:
            return f"job {self.job_id} failed with exit code {self.exit_code}{reason}"
        return f"job {self.job_id} {self.state}{reason}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
