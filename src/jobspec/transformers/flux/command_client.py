"""Flux through the ``flux`` command: one process per call (see `client`)."""

from __future__ import annotations

import codecs
import json
import os
import threading
from collections.abc import Mapping
from typing import IO, TYPE_CHECKING, Any, TextIO

from jobspec.plugin import JobStatus
from jobspec.transformers.flux import command_lines, jobids, outcome
from jobspec.transformers.flux.client import Client, FluxError, JobNotFound, failure_text

if TYPE_CHECKING:
    import subprocess


class CommandClient(Client):
    """Flux through the ``flux`` command: one process per call."""

    name = "command"

    def _check(self, done: subprocess.CompletedProcess[str], job_id: str | None = None) -> None:
        if done.returncode == 0:
            return
        message = failure_text(done)
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
        if done.returncode != 0 and "timeout" not in failure_text(done):
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
            if not status.done and "inactive" not in failure_text(done):
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
