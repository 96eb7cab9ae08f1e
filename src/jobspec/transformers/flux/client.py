"""The thin layer that talks to Flux: the Python bindings (`bindings_client`), or the
``flux`` command (`command_client`). Here: what both share, and `connect`.

Both clients have the same small interface (submit a jobspec, status, wait, watch,
cancel, this broker's rank and the instance size) and give the same answers: both
submit the very jobspec JSON `jobspec_v1` builds (the command client through
``flux job submit`` on standard input), and both read a job's state from its
eventlog through `outcome`. `connect` picks one: the bindings when ``import flux``
works (flux-core's module, which needs libflux-core), else the command.

Job ids come back in ``ƒ`` form; to the ``flux`` command they go in decimal, which
every locale reads. Commands run as argv lists, never through a shell.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.plugin import JobStatus, TransformerError
from jobspec.transformers.flux import command_lines, jobids

if TYPE_CHECKING:
    import subprocess

INTERFACES = ("auto", "bindings", "command")
# Where a system instance's broker listens when FLUX_URI is not set (flux-core's
# default local URI, by the usual runstatedir).
SYSTEM_SOCKETS = ("/run/flux/local", "/var/run/flux/local")


class FluxError(TransformerError):
    """Flux said no, or could not be reached; the message is Flux's own where it gave one."""


class JobNotFound(FluxError):
    """No job with that id in this Flux instance."""


def instance_uri() -> str | None:
    """The Flux instance this process would talk to: FLUX_URI, else a system
    instance's socket. Cheap: nothing is contacted."""
    uri = os.environ.get("FLUX_URI")
    if uri:
        return uri
    for path in SYSTEM_SOCKETS:
        if os.path.exists(path):
            return f"local://{path}"
    return None


def bindings_present() -> bool:
    """Whether flux-core's Python bindings look installed (found, not imported: cheap)."""
    try:
        return importlib.util.find_spec("flux") is not None and importlib.util.find_spec("_flux") is not None
    except (ImportError, ValueError):
        return False


def command_path() -> str | None:
    return shutil.which("flux")


def failure_text(done: subprocess.CompletedProcess[str]) -> str:
    text = (done.stderr or "").strip() or (done.stdout or "").strip()
    return text or f"{done.args[0]} exited with {done.returncode}"


class Client:
    """What both clients share: the flux command, for staging and for what the
    bindings do not cover."""

    name = "client"
    sends_ahead = False  # start_submit: a job sent now, its id asked for later

    def __init__(self, flux_command: str | None) -> None:
        self.flux_command = flux_command

    def run_flux(
        self, argv: Sequence[str], *, input: str | None = None, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a ``flux ...`` argv (from `command_lines`) with the flux command found on PATH."""
        import subprocess

        if self.flux_command is None:
            raise FluxError(f"the flux command is needed for `{' '.join(argv[:3])}` and is not on PATH")
        full = [self.flux_command, *argv[1:]] if argv and argv[0] == command_lines.FLUX else list(argv)
        try:
            return subprocess.run(
                full,
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except OSError as e:
            raise FluxError(f"cannot run {full[0]}: {e.strerror or e}") from None

    def submit(self, jobspec: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def start_submit(self, jobspec: Mapping[str, Any]) -> Callable[[], str]:
        """Send the jobspec and return what waits for Flux's answer (the job id). Only
        where ``sends_ahead``: the command is one process a job, sent and answered."""
        raise NotImplementedError

    def status(self, job_id: str) -> JobStatus:
        raise NotImplementedError

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        raise NotImplementedError

    def watch(self, job_id: str, out: TextIO, err: TextIO) -> JobStatus:
        raise NotImplementedError

    def cancel(self, job_id: str) -> None:
        raise NotImplementedError

    def rank_size(self) -> tuple[int, int]:
        raise NotImplementedError

    def jobspec_of(self, job_id: str) -> dict[str, Any]:
        raise NotImplementedError

    # ---------------------------------------------------------------- for resuming (see `resume`)

    def ingest_stats(self) -> Any:
        """job-ingest's counters: its validator's backlog says what is still being checked."""
        done = self.run_flux(command_lines.ingest_stats())
        if done.returncode != 0:
            raise FluxError(failure_text(done))
        return json.loads(done.stdout)

    def submit_held(self, jobspec: Mapping[str, Any]) -> str:
        """Submit a job that never runs (urgency 0) and return its id."""
        done = self.run_flux(command_lines.job_submit_held(), input=json.dumps(jobspec))
        if done.returncode != 0:
            raise FluxError(failure_text(done))
        return jobids.normalise(done.stdout.strip().splitlines()[-1])

    def wait_listed(self, job_id: str) -> None:
        """Return once job-list lists the job (it holds the request until then)."""
        done = self.run_flux(command_lines.listed(str(jobids.decode(job_id))), timeout=60)
        if done.returncode != 0:
            raise FluxError(failure_text(done))

    def job_ids(self) -> list[str]:
        """Every job of this user's in the instance, in any state."""
        done = self.run_flux(command_lines.user_jobs())
        if done.returncode != 0:
            raise FluxError(failure_text(done))
        return [jobids.encode(int(line)) for line in done.stdout.split() if line.isdigit()]

    def jobspecs(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The jobspec of each of ``job_ids`` that is still there."""
        found = {}
        for job_id in job_ids:
            with contextlib.suppress(FluxError):
                found[job_id] = self.jobspec_of(job_id)
        return found


_clients: dict[str, Client] = {}
_clients_lock = threading.Lock()


def connect(interface: str = "auto") -> Client:
    """The client for ``interface`` (auto, bindings or command), made once per process."""
    if interface not in INTERFACES:
        raise FluxError(f"flux.interface is one of {', '.join(INTERFACES)}, not '{interface}'")
    with _clients_lock:
        client = _clients.get(interface)
        if client is None:
            client = _make(interface)
            _clients[interface] = client
        return client


def _make(interface: str) -> Client:
    from jobspec.transformers.flux.bindings_client import BindingsClient  # each imports this module
    from jobspec.transformers.flux.command_client import CommandClient

    flux_command = command_path()
    if interface in ("auto", "bindings"):
        try:
            return BindingsClient(flux_command)
        except ImportError as e:
            if interface == "bindings":
                raise FluxError(
                    f"flux.interface is bindings, but flux-core's Python bindings do not import: {e}"
                ) from None
    if flux_command is not None:
        return CommandClient(flux_command)
    if interface == "command":
        raise FluxError("flux.interface is command, but there is no flux command on PATH")
    raise FluxError("neither flux-core's Python bindings nor the flux command are here")
