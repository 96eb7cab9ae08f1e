"""Helpers for the Flux tests that run the `jobspec` command or the stand-in flux."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A module named jobspec_flux is how an out-of-tree transformer is found (brief,
# section 4). The core's registry does not list flux among its built-in
# transformers yet, so the command-line tests find it this way.


@dataclass
class FakeFlux:
    """The stand-in flux command (tests/flux/fake_flux.py) on PATH, in a Flux-looking
    environment. It tests jobspec's process handling, not Flux."""

    bin: Path
    state: Path
    env: dict[str, str]  # for `jobspec` subprocesses: the fake on PATH, the plugin importable

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
