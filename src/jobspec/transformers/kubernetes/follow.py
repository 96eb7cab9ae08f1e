"""Following a Job while it runs: each pod's log streamed as it comes, and pods that
are stuck (a bad image, no node that fits) reported once each.

Logs come from the API server (``pods/log`` with ``follow``), one thread per pod, at
most `MAX_LOG_STREAMS` at once; whole lines are written, one writer at a time, so
the tasks' lines never interleave mid-line.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from jobspec.transformers.kubernetes.client import KubeError, Session
from jobspec.transformers.kubernetes.outcome import pod_index, pod_started, pod_trouble

LOG_DRAIN_SECONDS = 30.0  # after a Job ends, how long its pods' log streams may take to finish
POLL_SECONDS = 1.0  # how often pods are looked at while a Job is followed
MAX_LOG_STREAMS = 32  # pods whose logs are followed at once; the others wait their turn


class Follower:
    """Looks at a Job's pods while it runs: streams each pod's log to ``out`` (whole
    lines, one writer at a time) and reports pods that are stuck, once each."""

    def __init__(
        self,
        session: Session,
        namespace: str,
        name: str,
        out: TextIO | None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.session, self.namespace, self.name = session, namespace, name
        self.out, self.note = out, note
        self.lock = threading.Lock()  # one writer at a time
        self.guard = threading.Lock()  # the streams and the waiting list
        self.streams: dict[str, threading.Thread] = {}
        self.waiting: list[str] = []  # started pods whose log is not streamed yet
        self.noted: set[tuple[str, str]] = set()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, name=f"follow-{name}", daemon=True)

    def __enter__(self) -> Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll()
            except KubeError as e:
                self._note(str(e))
            self.stop.wait(POLL_SECONDS)

    def poll(self) -> list[dict[str, Any]]:
        """Look at the pods once: notes for stuck ones, streams for started ones."""
        pods = self.session.job_pods(self.namespace, self.name)
        with self.guard:
            self._look(pods)
        return pods

    def _look(self, pods: list[dict[str, Any]]) -> None:
        for pod in sorted(pods, key=lambda p: pod_index(p) or 0):
            pod_name = (pod.get("metadata") or {}).get("name")
            if not pod_name:
                continue
            trouble = pod_trouble(pod)
            if trouble and (pod_name, trouble) not in self.noted:
                self.noted.add((pod_name, trouble))
                self._note(f"pod {pod_name}: {trouble}")
            new = pod_name not in self.streams and pod_name not in self.waiting
            if self.out is not None and new and pod_started(pod):
                self.waiting.append(pod_name)
        self._start_streams()

    def _start_streams(self) -> None:
        """Start log streams for started pods, at most MAX_LOG_STREAMS at a time."""
        running = sum(1 for t in self.streams.values() if t.is_alive())
        while self.waiting and running < MAX_LOG_STREAMS:
            pod_name = self.waiting.pop(0)
            thread = threading.Thread(target=self._stream, args=(pod_name,), name=f"log-{pod_name}", daemon=True)
            self.streams[pod_name] = thread
            thread.start()
            running += 1

    def _stream(self, pod: str) -> None:
        pending = b""
        try:
            for chunk in self.session.pod_log(self.namespace, pod):
                pending += chunk
                if b"\n" in pending:
                    whole, _, pending = pending.rpartition(b"\n")
                    self._write(whole + b"\n")
        except KubeError as e:
            self.errors.append(str(e))
            self._note(str(e))
        finally:
            if pending:
                self._write(pending + b"\n")

    def _write(self, data: bytes) -> None:
        assert self.out is not None
        with self.lock:
            self.out.write(data.decode("utf-8", "replace"))
            self.out.flush()

    def _note(self, text: str) -> None:
        if self.note is not None:
            with self.lock:
                self.note(text)

    def finish(self, drain: float = LOG_DRAIN_SECONDS) -> None:
        """Stop looking; start streams for pods not seen yet (their logs are complete
        by now) and let every stream reach its end, for at most ``drain`` seconds."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        try:
            self.poll()
        except KubeError as e:
            self._note(str(e))
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            with self.guard:
                self._start_streams()
            alive = [t for t in self.streams.values() if t.is_alive()]
            if not alive and not self.waiting:
                break
            if alive:
                alive[0].join(min(0.05, max(0.0, deadline - time.monotonic())))
