"""A field a backend leaves unread is warned about before the first step (README's table)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

EXTRA = HELLO.replace("  with:\n  - type: slot", "  id: rack1\n  with:\n  - type: slot", 1) + (
    "  resources:\n    hardware:\n      hardware.gpu.available: 'no'\n"
    "attributes:\n  system:\n    queue: small\n    shell: {options: {verbose: 1}}\n  user:\n    project: x\n"
)


@pytest.mark.parametrize(
    ("transformer", "warning"),
    [
        ("local", "local ignores attributes.system.queue, attributes.system.shell, the resource graph's id"),
        ("slurm", "slurm ignores attributes.system.shell, the resource graph's id, task.resources, attributes.user"),
        ("kubernetes", "kubernetes ignores attributes.system.queue, attributes.system.shell, the resource graph's id"),
    ],
)
def test_what_a_backend_leaves_unread_is_warned_about(tmp_path: Path, transformer: str, warning: str) -> None:
    assert EXTRA != HELLO and "id: rack1" in EXTRA
    done = jobspec_cli("run", "-t", transformer, "--dry-run", str(make_jobspec(tmp_path, EXTRA)))
    assert done.returncode == 0, done.stderr
    assert f"jobspec: warning: {warning}" in done.stdout + done.stderr


def test_a_document_every_backend_reads_whole_gets_no_warning(tmp_path: Path) -> None:
    done = jobspec_cli("run", "-t", "local", "--dry-run", str(make_jobspec(tmp_path, HELLO)))
    assert done.returncode == 0 and "warning" not in done.stdout + done.stderr
