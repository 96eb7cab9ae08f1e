"""Flux through flux-core's Python bindings: one connection per thread (see `client`)."""

from __future__ import annotations

import errno
import importlib
import json
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from jobspec.plugin import JobStatus
from jobspec.transformers.flux import command_lines, jobids, outcome
from jobspec.transformers.flux.client import Client, FluxError, JobNotFound
from jobspec.transformers.flux.command_client import CommandClient


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
