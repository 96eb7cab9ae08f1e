"""What the Slurm steps of one run keep for the steps that follow (`SlurmRun`, got with
``ctx.state.of(SlurmRun)``): the files a stage step packed, and the REST API's token.

A token is a secret: its value appears in no repr, message or result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

RENEW_MARGIN = 30.0  # seconds: a token this close to its end is renewed before use


class Token:
    """A JWT for the REST API. Its value never appears in a repr, a message or a result."""

    __slots__ = ("lifespan", "obtained", "user", "value")

    def __init__(self, user: str, value: str, lifespan: int | None = None, obtained: float = 0.0) -> None:
        self.user = user
        self.value = value
        self.lifespan = lifespan  # None: given from outside (SLURM_JWT), not renewed here
        self.obtained = obtained  # time.monotonic() when obtained

    def __repr__(self) -> str:
        return f"<Token for {self.user}, lifespan {self.lifespan}>"

    def remaining(self) -> float:
        """Seconds it stays valid (infinite when its lifespan is unknown)."""
        if self.lifespan is None:
            return float("inf")
        return self.obtained + self.lifespan - time.monotonic()

    def expiring(self) -> bool:
        return self.remaining() <= RENEW_MARGIN


@dataclass(frozen=True)
class StagedFiles:
    """The staging directory packed by a stage step (``sharedfs: false``), for the
    scripts of the jobs that follow to carry to their nodes."""

    archive: str = field(repr=False)  # base64 of a tar.gz: large, so not in a repr
    target: str  # where it is unpacked on every node: the staging directory's path


@dataclass
class SlurmRun:
    """The Slurm steps' state for one run; made on first use by ``ctx.state.of(SlurmRun)``."""

    stage: StagedFiles | None = None  # set by a stage step: later jobs carry these files
    token: Token | None = None  # set by an auth step: later REST calls send it
    rounding_noted: bool = False  # the time limit's rounding up to whole minutes was said (once a run)
