"""Command start-up: `jobspec --version`, `jobspec validate FILE`, `jobspec run --dry-run FILE`
beside `python -c pass` (the floor any Python command pays).

    python bench/startup.py

Targets (issue 2): --version <= 40 ms, validate <= 80 ms, run --dry-run <= 100 ms.
"""

from __future__ import annotations

import sys

from timing import BIN, ROOT, side_by_side, time_command

JOBSPEC = str(BIN / "jobspec")
EXAMPLE = str(ROOT / "examples" / "hello-world.yaml")


def main() -> None:
    python = [sys.executable, "-c", "pass"]
    rows = [
        ("jobspec --version", [JOBSPEC, "--version"]),
        ("jobspec validate hello-world.yaml", [JOBSPEC, "validate", EXAMPLE]),
        ("jobspec run --dry-run hello-world.yaml", [JOBSPEC, "run", "-t", "local", "--dry-run", EXAMPLE]),
        # no -t: every transformer, installed plugins included, is asked how well it fits here
        ("jobspec run --dry-run (automatic choice)", [JOBSPEC, "run", "--dry-run", EXAMPLE]),
    ]
    for name, argv in rows:
        side_by_side(name, lambda argv=argv: time_command(argv), lambda: time_command(python), "python -c pass")


if __name__ == "__main__":
    main()
