"""What the core tests share: the examples, the real command line, small jobspecs.

Each backend's folder has its own support module beside its tests.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JOBSPEC_SHARED_DIR", ROOT.parent / "shared"))
EXAMPLES = ROOT / "examples"
# The reference data beside the repository (the original examples, Flux's RFCs): a fresh
# clone has none, and its tests skip; CI has it, and fails loudly without it (conftest.py).
HAVE_SHARED = (SHARED / "seed" / "examples").is_dir() and (SHARED / "flux-rfc").is_dir()
NO_SHARED = f"needs the reference data in {SHARED} (absent; set JOBSPEC_SHARED_DIR to use another folder)"
# Stands for the original examples where they are absent, so a test parametrized over them
# is collected once and skipped with the reason above (not "got empty parameter set").
ABSENT_EXAMPLE = SHARED / "seed" / "examples" / "absent.yaml"


def require_shared() -> None:
    """Skip the calling test (fail it under CI) when the reference data is absent."""
    if not HAVE_SHARED:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run every test: {NO_SHARED}")
        pytest.skip(NO_SHARED)


def seed_examples() -> list[Path]:
    """The original 0.0.12 examples, or `ABSENT_EXAMPLE` alone where they are absent."""
    if not HAVE_SHARED:
        return [ABSENT_EXAMPLE]
    return sorted((SHARED / "seed" / "examples").glob("*.yaml"))


def project_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def jobspec_cli(
    *args: str,
    input: str | None = None,
    input_bytes: bytes | None = None,
    stdin: IO[bytes] | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the real `jobspec` command (as a user would) and capture what it prints.
    Standard input: ``input`` (text), ``input_bytes``, or an open file ``stdin``."""
    done = subprocess.run(
        [sys.executable, "-m", "jobspec.cli.main", *args],
        input=input.encode() if input is not None else input_bytes,
        stdin=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )
    out, err = (stream.decode("utf-8", "replace") for stream in (done.stdout, done.stderr))
    return subprocess.CompletedProcess(done.args, done.returncode, out, err)


HELLO = """\
version: 1
resources:
- type: node
  count: 2
  with:
  - type: slot
    label: default
    count: 1
    with:
    - type: core
      count: 2
task:
  command: ["/bin/bash", "job.sh"]
  slot: default
  count:
    per_slot: 1
  transform:
  - step: write
    filename: job.sh
    executable: true
  - step: submit
    filename: job.sh
    wait: true
  scripts:
  - name: job.sh
    content: |
      #!/bin/bash
      echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"
"""


def make_jobspec(tmp_path: Path, text: str = HELLO, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_core_jobspec(transform: list[dict[str, Any]], script: str, count: dict[str, int] | None = None) -> str:
    """A one-slot, one-core jobspec with these transform steps and one script, a.sh:
    the small unit of work the receiver and throughput tests pass around."""
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "default", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "default",
            "count": count or {"total": 1},
            "transform": transform,
            "scripts": [{"name": "a.sh", "content": script}],
        },
    }
    return yaml.safe_dump(data, sort_keys=False)


def after_many_jobspec(tmp_path: Path) -> Path:
    """An array of 3 and one more job, then a last job ``after: [many, one]`` that waits; each
    job writes when it ended (the last one, when it started) into the stage. See `after_held`."""
    ended = 'date +%s.%N > "$JOBSPEC_STAGE/end-$1"'
    scripts = {
        "many.sh": f'#!/bin/sh\nsleep "0.$JOBSPEC_ARRAY_INDEX"\nset -- "$JOBSPEC_ARRAY_INDEX"\n{ended}\n',
        "one.sh": f"#!/bin/sh\nsleep 0.5\nset -- one\n{ended}\n",
        "last.sh": '#!/bin/sh\ndate +%s.%N > "$JOBSPEC_STAGE/start-last"\n',
    }
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "transform": [
                *({"step": "write", "filename": name} for name in scripts),
                {"step": "submit", "filename": "many.sh", "name": "many", "array": "0-2"},
                {"step": "submit", "filename": "one.sh", "name": "one"},
                {"step": "submit", "filename": "last.sh", "after": ["many", "one"], "wait": True},
            ],
            "scripts": [{"name": name, "content": text} for name, text in scripts.items()],
        },
    }
    return make_jobspec(tmp_path, yaml.safe_dump(data, sort_keys=False), "after-many.yaml")


def after_held(stage: Path) -> bool:
    """Whether the last job of `after_many_jobspec` started after every job it names ended."""
    start = float((stage / "start-last").read_text())
    return all(float((stage / f"end-{i}").read_text()) <= start for i in ("0", "1", "2", "one"))


class Session:
    """`jobspec ARGS` with its stdout on a pseudo-terminal (``tty``) or a pipe, read as it comes."""

    def __init__(self, args: list[str], tty: bool) -> None:
        cmd = [sys.executable, "-m", "jobspec.cli.main", *args]
        # Ctrl-C as at an interactive shell, even when these tests run in a background job
        # (whose shell made SIGINT ignored, which Python would keep)
        reset = {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)}
        env = {**os.environ, "NO_COLOR": "1"}  # the step lines as plain text, to match
        if tty:
            self.fd, child = pty.openpty()
            self.proc = subprocess.Popen(
                cmd, stdin=child, stdout=child, stderr=subprocess.PIPE, close_fds=True, env=env, **reset
            )
            os.close(child)
        else:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **reset)
            assert self.proc.stdout is not None
            self.fd = self.proc.stdout.fileno()
        self.seen = ""

    def read_until(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.seen)
            if found:
                return found
            assert time.monotonic() < deadline, f"never saw {pattern!r} in {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the pty's other end closed
                    chunk = b""
                if not chunk and self.proc.poll() is not None:
                    continue
                self.seen += chunk.decode("utf-8", "replace")

    def finish(self, timeout: float = 30) -> tuple[int, str]:
        """Read to the end; the exit code and stderr. A command still running after
        ``timeout`` seconds is killed and fails the test."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    pytest.fail(f"still running after {timeout:g} s; it printed {self.seen!r}")
                ready, _, _ = select.select([self.fd], [], [], 0.2)
                if not ready:
                    if self.proc.poll() is not None:
                        break
                    continue
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    break
                self.seen += chunk.decode("utf-8", "replace")
        except OSError:
            pass
        assert self.proc.stderr is not None
        err = self.proc.stderr.read().decode()
        return self.proc.wait(timeout), err
