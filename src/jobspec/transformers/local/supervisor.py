"""The supervisor of one local job: a detached process that starts the tasks, enforces
the time limit, forwards cancellation, and records the outcome in the job's folder.

Started by `jobs.submit`; holds the job's lock (inherited as a file descriptor)
for as long as it lives. Standard library only, so it starts fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from jobspec.transformers.local.jobs import FINAL, NOT_INHERITED, SUPERVISOR_SIGNALS, LocalJob

GRACE = 5.0  # seconds between SIGTERM and SIGKILL


class Supervisor:
    def __init__(self, job: LocalJob) -> None:
        self.job = job
        self.spec = job.spec
        self.procs: list[subprocess.Popen[bytes]] = []
        self.stop_reason: str | None = None
        self.cancelled = False

    def on_signal(self, signum: int, frame: Any) -> None:
        self.cancelled = True
        self.stop_reason = self.stop_reason or f"cancelled ({signal.Signals(signum).name})"
        self.terminate()

    def terminate(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)

    def wait_for_dependency(self) -> str | None:
        """With ``after``: wait for those jobs; a reason to give up if one did not complete."""
        after = self.spec.get("after") or []
        for job_id in [after] if isinstance(after, str) else after:  # one id: a job an older jobspec started
            parent = LocalJob(job_id, self.job.dir.parent)
            while not self.cancelled:
                state = parent.state()
                if state.get("state") == "completed":
                    break
                if state.get("state") in FINAL:
                    return f"dependency never satisfied: job {job_id} {state.get('state')}"
                time.sleep(0.05)
        return None

    def start_tasks(self) -> None:
        spec = self.spec
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        out = os.open(spec["stdout"], flags, 0o644)
        err = out if spec["stderr"] == spec["stdout"] else os.open(spec["stderr"], flags, 0o644)
        ntasks = int(spec.get("ntasks", 1))
        inherited = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        base = {**inherited, **spec.get("env", {})}
        try:
            for rank in range(ntasks):
                env = {
                    **base,
                    "JOBSPEC_JOB_ID": self.job.id,
                    "JOBSPEC_TASK_RANK": str(rank),
                    "JOBSPEC_TASK_COUNT": str(ntasks),
                    # scripts written for Flux (the original examples among them) read this one
                    "FLUX_TASK_RANK": str(rank),
                }
                self.procs.append(
                    subprocess.Popen(
                        spec["argv"],
                        cwd=spec["cwd"],
                        env=env,
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,  # a group per task: cancel reaches its children
                    )
                )
        finally:
            os.close(out)
            if err != out:
                os.close(err)

    def run(self) -> None:
        job = self.job
        for signum in SUPERVISOR_SIGNALS:
            signal.signal(signum, self.on_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SUPERVISOR_SIGNALS)  # blocked by submit()
        started = time.time()
        reason = self.wait_for_dependency()
        if reason or self.cancelled:
            job.write_state(state="cancelled", exit_code=None, reason=reason or self.stop_reason, ended=time.time())
            return
        try:
            self.start_tasks()
        except OSError as e:
            self.terminate()
            code = 127 if isinstance(e, (FileNotFoundError, PermissionError)) else 1
            what = f"{e.strerror}: {e.filename}" if e.filename else str(e)
            job.write_state(state="failed", exit_code=code, reason=f"cannot start the task: {what}", ended=time.time())
            return
        job.write_state(state="running", started=started, pids=[p.pid for p in self.procs])
        self.wait_all(self.spec.get("duration"))
        codes = [_exit_code(p.returncode) for p in self.procs]
        worst = max(codes) if codes else 0
        job.write_state(
            state=self.outcome(worst),
            exit_code=worst,
            reason=self.stop_reason,
            task_exit_codes=codes,
            started=started,
            ended=time.time(),
        )

    def outcome(self, worst_exit_code: int) -> str:
        if self.cancelled:
            return "cancelled"
        return "completed" if worst_exit_code == 0 and self.stop_reason is None else "failed"

    def wait_all(self, duration: float | None) -> None:
        deadline = time.monotonic() + duration if duration else None
        killed_at = None
        while True:
            live = next((p for p in self.procs if p.poll() is None), None)
            if live is None:
                return
            now = time.monotonic()
            if deadline is not None and now >= deadline and self.stop_reason is None:
                self.stop_reason = f"time limit of {duration:g} s reached"
                self.terminate()
            if self.stop_reason and killed_at is None:
                killed_at = now
            if killed_at is not None and now - killed_at > GRACE:
                self.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                live.wait(timeout=0.05)  # sleeping in wait() on a live task keeps polling cheap


def _exit_code(returncode: int) -> int:
    """A shell's convention: killed by signal N gives 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str]) -> None:
    job_dir, lock_fd = Path(argv[0]), int(argv[1])
    os.set_inheritable(lock_fd, False)  # the tasks must not hold the job's lock
    job = LocalJob(job_dir.name, job_dir.parent)
    try:
        Supervisor(job).run()
    except Exception as e:  # record, never leave a job pending forever
        job.write_state(
            state="failed", exit_code=None, reason=f"supervisor error: {type(e).__name__}: {e}", ended=time.time()
        )
        raise


if __name__ == "__main__":
    main(sys.argv[1:])
