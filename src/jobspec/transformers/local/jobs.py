"""Local jobs on disk: one folder per job, readable from any later process.

Layout, under ``$JOBSPEC_STATE_DIR`` (default ``$XDG_STATE_HOME/jobspec`` or
``~/.local/state/jobspec``)::

    local/<job id>/job.json    what to run (argv, cwd, env, tasks, output files)
    local/<job id>/state.json  pending -> running -> completed | failed | cancelled
    local/<job id>/lock        held (flock) by the job's supervisor while it lives
    local/<job id>/pid         the supervisor's process id, for cancel

The lock is taken by the submitting process and handed to the supervisor, so it
is held from the moment the job exists until its supervisor ends: a job whose
state is not final while nobody holds the lock was lost (its supervisor killed).
Standard library only: the supervisor imports this module at every job start.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

FINAL = ("completed", "failed", "cancelled")
SUPERVISOR_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
ID_PREFIX = "local-"
# The submitter's credentials, never handed to a job it did not name them for: a Slurm REST
# token (SLURM_JWT) in a job's environment also breaks srun there.
NOT_INHERITED = frozenset({"SLURM_JWT"})


def state_dir() -> Path:
    base = os.environ.get("JOBSPEC_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(xdg) / "jobspec"


def jobs_dir() -> Path:
    return state_dir() / "local"


def new_job_id() -> str:
    """Sortable by submit time, unique across processes: local-<ms in hex>-<random>."""
    return f"{ID_PREFIX}{int(time.time() * 1000):x}-{os.urandom(3).hex()}"


PRIVATE_DIR = 0o700  # a job's record holds its environment (tokens, say): its owner's only
PRIVATE_FILE = 0o600


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically and privately: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def make_private_dir(path: Path) -> None:
    """``path`` and any missing parents, each made 0700."""
    if not path.is_dir():
        make_private_dir(path.parent)
        path.mkdir(mode=PRIVATE_DIR, exist_ok=True)


def read_json(path: Path) -> dict[str, Any]:
    with open(path) as fh:
        data: dict[str, Any] = json.load(fh)
    return data


class LocalJob:
    """A handle on one job's folder."""

    def __init__(self, job_id: str, root: Path | None = None) -> None:
        if not job_id.startswith(ID_PREFIX) or "/" in job_id or job_id in (".", ".."):
            raise KeyError(job_id)
        self.id = job_id
        self.dir = (root or jobs_dir()) / job_id

    @property
    def exists(self) -> bool:
        return (self.dir / "job.json").exists()

    @property
    def spec(self) -> dict[str, Any]:
        return read_json(self.dir / "job.json")

    def read_state(self) -> dict[str, Any]:
        try:
            return read_json(self.dir / "state.json")
        except FileNotFoundError:
            return {"state": "pending"}

    def write_state(self, **state: Any) -> None:
        write_json(self.dir / "state.json", state)

    def supervisor_alive(self) -> bool:
        """True while someone holds the job's lock (its supervisor, or its submitter)."""
        try:
            fd = os.open(self.dir / "lock", os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def state(self) -> dict[str, Any]:
        """The recorded state, with a vanished supervisor reported as a failure."""
        state = self.read_state()
        if state.get("state") not in FINAL and not self.supervisor_alive():
            state = self.read_state()  # it may have finished just now
            if state.get("state") not in FINAL:
                state = {**state, "state": "failed", "reason": "the job's supervisor ended without a result (killed?)"}
        return state

    def signal_supervisor(self, signum: int) -> bool:
        """Signal the job's supervisor: only a live process whose command line is this
        job's supervisor, whatever pid the record names."""
        if not self.supervisor_alive():
            return False
        try:
            pid = int((self.dir / "pid").read_text())
            if not self._is_supervisor(pid):
                return False
            os.kill(pid, signum)
        except (FileNotFoundError, ValueError, ProcessLookupError):
            return False
        return True

    def _is_supervisor(self, pid: int) -> bool:
        """Whether process ``pid`` runs this job's supervisor (its command line says so).
        A process just started may show an empty command line for a moment: asked again."""
        for _ in range(50):
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
            if argv != [b""]:
                return SUPERVISOR_MODULE.encode() in b" ".join(argv) and os.fsencode(self.dir) in argv
            time.sleep(0.01)
        return False


def submit(spec: dict[str, Any], root: Path | None = None, job_id: str | None = None) -> LocalJob:
    """Record a job and start its supervisor, detached; return at once.

    ``spec`` holds argv, cwd, env (added to this environment), ntasks, stdout,
    stderr, and optionally duration (seconds), after (a job id that must complete
    first), name and key. With a key, the key's index entry is written before the
    job exists, so `find_by_key` never misses a job that could have run.
    """
    job = LocalJob(job_id or new_job_id(), root)
    make_private_dir(job.dir.parent)
    if spec.get("key"):
        keys = job.dir.parent / "keys"
        keys.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        (keys / _key_file(spec["key"])).write_text(job.id)  # points at a job that may not exist yet
    job.dir.mkdir(mode=PRIVATE_DIR)
    lock_fd = os.open(job.dir / "lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        write_json(job.dir / "job.json", {"id": job.id, "submitted": time.time(), **spec})
        job.write_state(state="pending")
        _start_supervisor(job, lock_fd)
    finally:
        os.close(lock_fd)  # the supervisor keeps its copy, and with it the lock
    return job


def _start_supervisor(job: LocalJob, lock_fd: int) -> None:
    # The supervisor starts with these signals blocked (a mask survives exec) and
    # unblocks them once its handlers are in place: a cancel that arrives while
    # it is still starting is recorded, not fatal.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SUPERVISOR_SIGNALS)
    try:
        with open(job.dir / "supervisor.log", "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _SUPERVISE, _package_root(), str(job.dir), str(lock_fd)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # outlives this process and its terminal
                pass_fds=(lock_fd,),
            )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    (job.dir / "pid").write_text(str(proc.pid))


def _key_file(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:40]


def find_by_key(key: str, root: Path | None = None) -> LocalJob | None:
    """The job submitted with ``key``, started now if its submitter died before starting it."""
    try:
        job_id = ((root or jobs_dir()) / "keys" / _key_file(key)).read_text().strip()
        job = LocalJob(job_id, root)
    except (FileNotFoundError, KeyError):
        return None
    try:
        if job.spec.get("key") != key:
            return None
    except (FileNotFoundError, ValueError):
        return None  # the submitter died before recording it: it never existed
    _start_if_orphaned(job)
    return job


def _start_if_orphaned(job: LocalJob) -> None:
    """A job recorded but whose supervisor never started: start it now (once: the lock decides)."""
    if job.read_state().get("state") != "pending" or (job.dir / "pid").exists():
        return
    lock_fd = os.open(job.dir / "lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # someone is starting it
        if job.read_state().get("state") == "pending" and not (job.dir / "pid").exists():
            _start_supervisor(job, lock_fd)
    finally:
        os.close(lock_fd)


# Finds this very copy of the package without touching the environment the tasks inherit.
SUPERVISOR_MODULE = "jobspec.transformers.local.supervisor"
_SUPERVISE = f"import sys; sys.path.insert(0, sys.argv[1]); from {SUPERVISOR_MODULE} import main; main(sys.argv[2:])"


def _package_root() -> str:
    """The folder holding the jobspec package, so the supervisor finds the same code."""
    return str(Path(__file__).resolve().parents[3])


def wait(job: LocalJob, timeout: float | None = None) -> dict[str, Any]:
    """Block until the job's state is final (or ``timeout`` seconds pass); return it."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.002
    while True:
        state = job.read_state()
        if state.get("state") in FINAL:
            return state
        if delay >= 0.05:  # checking the lock costs more: only once polling has slowed
            state = job.state()
            if state.get("state") in FINAL:
                return state
        if deadline is not None and time.monotonic() >= deadline:
            return state
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def cancel(job: LocalJob, grace: float = 5.0) -> dict[str, Any]:
    """Ask the supervisor to stop the tasks; wait for it to record the outcome."""
    state = job.state()
    if state.get("state") in FINAL:
        return state
    if job.signal_supervisor(signal.SIGTERM):
        return wait(job, timeout=grace + 5)
    return job.state()
