"""The thin layer that talks to Flux: the Python bindings, or the ``flux`` command.

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

import codecs
import contextlib
import errno
import importlib.util
import json
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, TextIO

from jobspec.plugin import JobStatus, TransformerError
from jobspec.transformers.flux import command_lines, jobids, outcome

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


def _message(done: subprocess.CompletedProcess[str]) -> str:
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
            raise FluxError(_message(done))
        return json.loads(done.stdout)

    def submit_held(self, jobspec: Mapping[str, Any]) -> str:
        """Submit a job that never runs (urgency 0) and return its id."""
        done = self.run_flux(command_lines.job_submit_held(), input=json.dumps(jobspec))
        if done.returncode != 0:
            raise FluxError(_message(done))
        return jobids.normalise(done.stdout.strip().splitlines()[-1])

    def wait_listed(self, job_id: str) -> None:
        """Return once job-list lists the job (it holds the request until then)."""
        done = self.run_flux(command_lines.listed(str(jobids.decode(job_id))), timeout=60)
        if done.returncode != 0:
            raise FluxError(_message(done))

    def job_ids(self) -> list[str]:
        """Every job of this user's in the instance, in any state."""
        done = self.run_flux(command_lines.user_jobs())
        if done.returncode != 0:
            raise FluxError(_message(done))
        return [jobids.encode(int(line)) for line in done.stdout.split() if line.isdigit()]

    def jobspecs(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The jobspec of each of ``job_ids`` that is still there."""
        found = {}
        for job_id in job_ids:
            with contextlib.suppress(FluxError):
                found[job_id] = self.jobspec_of(job_id)
        return found


class CommandClient(Client):
    """Flux through the ``flux`` command: one process per call."""

    name = "command"

    def _check(self, done: subprocess.CompletedProcess[str], job_id: str | None = None) -> None:
        if done.returncode == 0:
            return
        message = _message(done)
        if job_id is not None and ("not found" in message or "No such job" in message):
            raise JobNotFound(f"no Flux job {job_id} in this instance")  # the bindings' words too
        raise FluxError(message)

    def submit(self, jobspec: Mapping[str, Any]) -> str:
        done = self.run_flux(command_lines.job_submit(), input=json.dumps(jobspec, ensure_ascii=False))
        self._check(done)
        lines = done.stdout.strip().splitlines()
        if not lines:
            raise FluxError("flux job submit printed no job id")
        return jobids.normalise(lines[-1])

    def status(self, job_id: str) -> JobStatus:
        done = self.run_flux(command_lines.eventlog(str(jobids.decode(job_id))))
        self._check(done, job_id)
        return outcome.status_from_events(jobids.normalise(job_id), outcome.parse_eventlog(done.stdout))

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """One process: ``wait-event --verbose`` prints the events up to ``clean`` (or, on a
        timeout, those so far), which give the state as `status` reads it."""
        done = self.run_flux(command_lines.events_until(str(jobids.decode(job_id)), "clean", timeout))
        if done.returncode != 0 and "timeout" not in _message(done):
            self._check(done, job_id)
        return outcome.status_from_events(jobids.normalise(job_id), outcome.parse_eventlog(done.stdout))

    def watch(self, job_id: str, out: TextIO, err: TextIO) -> JobStatus:
        import subprocess

        argv = command_lines.attach(str(jobids.decode(job_id)))
        if self.flux_command is None:
            raise FluxError("the flux command is not on PATH")
        env = {**os.environ, "FLUX_ATTACH_NONINTERACTIVE": "1"}
        try:
            proc = subprocess.Popen(
                [self.flux_command, *argv[1:]],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as e:
            raise FluxError(f"cannot run {self.flux_command}: {e.strerror or e}") from None
        assert proc.stdout is not None and proc.stderr is not None
        lock = threading.Lock()
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, out, lock), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, err, lock), daemon=True),
        ]
        for pump in pumps:
            pump.start()
        proc.wait()
        for pump in pumps:
            pump.join()
        return self.wait(job_id)

    def cancel(self, job_id: str) -> None:
        done = self.run_flux(command_lines.cancel(str(jobids.decode(job_id))))
        # a finished job ("job is inactive") is not an error; an unknown one is (status says)
        if done.returncode != 0:
            status = self.status(job_id)
            if not status.done and "inactive" not in _message(done):
                self._check(done, job_id)

    def jobspec_of(self, job_id: str) -> dict[str, Any]:
        done = self.run_flux(command_lines.job_info(str(jobids.decode(job_id))))
        self._check(done, job_id)
        spec = json.loads(done.stdout)
        return spec if isinstance(spec, dict) else {}

    def rank_size(self) -> tuple[int, int]:
        values = []
        for name in ("rank", "size"):
            done = self.run_flux(command_lines.getattr_(name))
            self._check(done)
            values.append(int(done.stdout.strip()))
        return values[0], values[1]


def _pump(source: IO[bytes], sink: TextIO, lock: threading.Lock) -> None:
    """Copy a child's output to ``sink`` as it comes, decoded as UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    while True:
        data = os.read(source.fileno(), 65536)
        text = decoder.decode(data, final=not data)
        if text:
            with lock:
                sink.write(text)
                sink.flush()
        if not data:
            break


class BindingsClient(Client):
    """Flux through flux-core's Python bindings: one connection per thread, no processes.

    Submitting, the one call of a plain ``jobspec run``, goes straight to libflux-core
    through the bindings' compiled module (``_flux._core``): ``import flux`` (its
    handle, futures and utilities: about 30 ms here) is put off until a call needs it."""

    name = "bindings"
    sends_ahead = True

    def __init__(self, flux_command: str | None) -> None:
        super().__init__(flux_command)
        core = importlib.import_module("_flux._core")  # ImportError: not here (connect says so)
        if not hasattr(core, "lib") or not hasattr(core.lib, "flux_job_submit"):
            raise ImportError(f"the '_flux' module at {getattr(core, '__file__', '?')} is not flux-core's")
        self._core = core
        self._local = threading.local()

    @property
    def handle(self) -> Any:
        """This thread's ``flux.Flux`` handle (importing the bindings' Python side)."""
        handle = getattr(self._local, "handle", None)
        if handle is None:
            flux = _python_bindings("flux")
            if not hasattr(flux, "Flux"):
                raise FluxError(f"the 'flux' module at {getattr(flux, '__file__', '?')} is not flux-core's")
            try:
                handle = flux.Flux()
            except OSError as e:
                raise FluxError(e.strerror or str(e)) from None
            self._local.handle = handle
        return handle

    def _raw_handle(self) -> Any:
        """This thread's ``flux_t *``: the Python handle's when there is one, else its own
        (flux_open(3) of FLUX_URI), kept for the thread's life."""
        handle = getattr(self._local, "handle", None)
        if handle is not None:
            return handle.handle
        raw = getattr(self._local, "raw", None)
        if raw is None:
            ffi, lib = self._core.ffi, self._core.lib
            raw = lib.flux_open(ffi.NULL, 0)
            if raw == ffi.NULL:
                raise FluxError(f"cannot connect to Flux: {os.strerror(ffi.errno)}")
            self._local.raw = raw
        return raw

    def submit(self, jobspec: Mapping[str, Any]) -> str:
        return self._send(jobspec)()

    def start_submit(self, jobspec: Mapping[str, Any]) -> Callable[[], str]:
        return self._send(jobspec)

    def _send(self, jobspec: Mapping[str, Any], urgency: int = 16) -> Callable[[], str]:
        """flux_job_submit(3) as ``flux job submit`` calls it, through the bindings' own C
        library: the request goes out now; the function returned waits for the job id.
        Flux's job-ingest answers in batches (every 10 ms), so many sent before the first
        answer is waited for cost one wait, not one each."""
        ffi, lib = self._core.ffi, self._core.lib
        data = json.dumps(jobspec, ensure_ascii=False).encode("utf-8")
        future = lib.flux_job_submit(self._raw_handle(), data, urgency, 0)  # 16: Flux's default
        if future == ffi.NULL:
            raise FluxError(os.strerror(ffi.errno))

        def answer() -> str:
            try:
                job_id = ffi.new("flux_jobid_t[1]")
                if lib.flux_job_submit_get_id(future, job_id) < 0:
                    code = ffi.errno
                    text = lib.flux_future_error_string(future)
                    words = ffi.string(text).decode("utf-8", "replace") if text != ffi.NULL else os.strerror(code)
                    raise FluxError(words)
                return jobids.encode(int(job_id[0]))
            finally:
                lib.flux_future_destroy(future)

        return answer

    def ingest_stats(self) -> Any:
        try:
            return self.handle.rpc("job-ingest.stats-get").get()
        except OSError as e:
            raise FluxError(e.strerror or str(e)) from None

    def submit_held(self, jobspec: Mapping[str, Any]) -> str:
        return self._send(jobspec, urgency=0)()

    def wait_listed(self, job_id: str) -> None:
        try:
            self.handle.rpc("job-list.list-id", {"id": jobids.decode(job_id), "attrs": []}).get()
        except OSError as e:
            raise FluxError(e.strerror or str(e)) from None

    def job_ids(self) -> list[str]:
        query = {"max_entries": 0, "attrs": [], "states": 0, "results": 0, "constraint": {"userid": [os.getuid()]}}
        try:
            jobs = self.handle.rpc("job-list.list", query).get()["jobs"]
        except OSError as e:
            raise FluxError(e.strerror or str(e)) from None
        return [jobids.encode(int(job["id"])) for job in jobs]

    def jobspecs(self, job_ids: Sequence[str], at_once: int = 1000) -> dict[str, dict[str, Any]]:
        """Asked for ``at_once`` at a time, then collected: a round trip's wait a thousand
        jobs, not one a job."""
        handle = self.handle
        found = {}
        for start in range(0, len(job_ids), at_once):
            asked = [
                (job_id, handle.rpc("job-info.lookup", {"id": jobids.decode(job_id), "keys": ["jobspec"], "flags": 0}))
                for job_id in job_ids[start : start + at_once]
            ]
            for job_id, future in asked:
                try:
                    spec = future.get().get("jobspec")
                except OSError:
                    continue  # purged meanwhile
                spec = json.loads(spec) if isinstance(spec, str) else spec
                if isinstance(spec, dict):
                    found[job_id] = spec
        return found

    def _eventlog(self, job_id: str) -> list[dict[str, Any]]:
        try:
            reply = self.handle.rpc("job-info.lookup", {"id": jobids.decode(job_id), "keys": ["eventlog"], "flags": 0})
            payload = reply.get()
        except FileNotFoundError:
            raise JobNotFound(f"no Flux job {job_id} in this instance") from None
        except OSError as e:
            raise FluxError(e.strerror or str(e)) from None
        return outcome.parse_eventlog(str(payload.get("eventlog", "")))

    def status(self, job_id: str) -> JobStatus:
        return outcome.status_from_events(jobids.normalise(job_id), self._eventlog(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """Wait for the job's result, then read its state from the eventlog as
        `status` (and the command client) does, so that both paths agree. A wait cut
        short by ``timeout`` keeps its future (one watch of the eventlog) for the next
        turn, rather than leave Flux streaming events to one abandoned watch a turn."""
        job = _python_bindings("flux.job")
        pending: dict[str, Any] = self._local.__dict__.setdefault("results", {})
        try:
            future = pending.pop(job_id, None) or job.result_async(self.handle, jobids.decode(job_id))
            if timeout is not None:
                try:
                    future.wait_for(max(timeout, 0.0))
                except TimeoutError:
                    pending[job_id] = future
                    return self.status(job_id)
            future.get()
        except FileNotFoundError:
            raise JobNotFound(f"no Flux job {job_id} in this instance") from None
        except OSError as e:
            if e.errno != errno.ETIMEDOUT:
                raise FluxError(e.strerror or str(e)) from None
        return self.status(job_id)

    def watch(self, job_id: str, out: TextIO, err: TextIO) -> JobStatus:
        try:
            from flux.job.output import output_watch_lines
        except ImportError:  # older flux-core: let `flux job attach` stream it
            if self.flux_command is not None:
                return CommandClient(self.flux_command).watch(job_id, out, err)
            return self.wait(job_id)
        try:
            for stream, line in output_watch_lines(self.handle, jobids.decode(job_id), keepends=True):
                sink = out if stream == "stdout" else err
                sink.write(line)
                sink.flush()
        except OSError:
            pass  # the job never started (an exception): its result says why
        return self.wait(job_id)

    def cancel(self, job_id: str) -> None:
        job = _python_bindings("flux.job")
        try:
            job.cancel(self.handle, jobids.decode(job_id), command_lines.CANCEL_MESSAGE)
        except FileNotFoundError:
            # Flux says ENOENT both for an unknown id and for a job that has finished
            # ("job is inactive", maybe before its eventlog shows it): the eventlog tells
            # them apart (JobNotFound), as for the command
            self.status(job_id)
        except OSError as e:
            if not self.status(job_id).done:
                raise FluxError(e.strerror or str(e)) from None

    def jobspec_of(self, job_id: str) -> dict[str, Any]:
        try:
            reply = self.handle.rpc("job-info.lookup", {"id": jobids.decode(job_id), "keys": ["jobspec"], "flags": 0})
            spec = reply.get().get("jobspec")
        except OSError as e:
            raise FluxError(e.strerror or str(e)) from None
        if isinstance(spec, str):
            spec = json.loads(spec)
        return spec if isinstance(spec, dict) else {}

    def rank_size(self) -> tuple[int, int]:
        handle = self.handle
        return int(handle.get_rank()), int(handle.attr_get("size"))


def _python_bindings(name: str) -> Any:
    """A module of the bindings' Python side; FluxError (not a traceback) where it does not
    import although the compiled side did (cffi or ply missing, say)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise FluxError(f"flux-core's Python bindings do not import: {e}") from None


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
