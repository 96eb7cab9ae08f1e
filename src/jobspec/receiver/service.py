"""`jobspec receive`: take jobspecs from a spool in arrival order and run each, in this
process (no new Python start-up per jobspec), with one or more worker threads.

Every jobspec ends in exactly one of done/ or failed/ with a JSON result. A bad
jobspec never blocks the ones behind it. On SIGTERM or Ctrl-C, the step under way
finishes, nothing new starts, and unstarted work stays waiting for the next
receiver. A receiver killed outright is recovered by the next one: the jobspec it
held is resumed from its journal, and a submission whose record was lost is found
in the scheduler by its key instead of being submitted again.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.document.problems import JobspecError
from jobspec.engine.run import Reporter
from jobspec.plugin.errors import TransformerUnavailable
from jobspec.plugin.transformer import Transformer
from jobspec.receiver.spool import Claim, NotAJobspecFile, Spool
from jobspec.receiver.taken_in import taken_in

if TYPE_CHECKING:
    from jobspec.transformers.registry import Choice

log = logging.getLogger("jobspec.receiver")

RECOVER_EVERY = 5.0  # seconds between looks for claims whose receiver died


class _LogStream:
    """A text stream that turns each line written into a log record."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.buffer = ""

    def write(self, text: str) -> int:
        self.buffer += text
        while "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            log.info("%s: %s", self.prefix, line)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@dataclass
class Counts:
    done: int = 0
    failed: int = 0
    given_back: int = 0
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + 1)


class Receiver:
    def __init__(
        self,
        spool: Spool,
        transformer: str | None = None,
        workers: int = 1,
        poll: float = 0.2,
    ) -> None:
        self.spool = spool
        self.transformer_name = transformer
        self.workers = max(1, workers)
        self.poll = poll
        self.stopping = threading.Event()
        self.counts = Counts()
        self._queue: deque[str] = deque()
        self._queue_lock = threading.Lock()
        self._recovered_at = 0.0
        self._transformer: Transformer | None = None
        self.choice: Choice | None = None

    def transformer(self) -> Transformer:
        """One instance for the whole receiver (its readiness is checked once)."""
        if self._transformer is None:
            from jobspec.transformers.registry import get_transformer_registry

            self.choice = get_transformer_registry().choice(self.transformer_name)
            self._transformer = self.choice.cls()
        return self._transformer

    # -- finding work -------------------------------------------------------------
    def _claims(self, once: bool) -> Iterator[Claim]:
        """Claims, oldest first: orphans of dead receivers, then incoming/."""
        while not self.stopping.is_set():
            claim = self._next_claim()
            if claim is not None:
                yield claim
            elif once:
                return
            else:
                self.stopping.wait(self.poll)

    def _next_claim(self) -> Claim | None:
        with self._queue_lock:
            if time.monotonic() - self._recovered_at > RECOVER_EVERY:
                self._recovered_at = time.monotonic()
                for orphan in self.spool.orphans():
                    log.info("%s: resuming (its receiver stopped)", orphan.id)
                    return orphan
            while True:
                if not self._queue:
                    try:
                        self._queue.extend(self.spool.waiting())
                    except OSError as e:
                        log.error("cannot list %s: %s", self.spool.dir("incoming"), e)
                        return None
                    if not self._queue:
                        return None
                name = self._queue.popleft()
                try:
                    claim = self.spool.claim(name)
                except NotAJobspecFile as e:
                    log.error("%s: failed: %s", name, e)
                    self.counts.add("failed")
                    continue
                except OSError as e:
                    log.error("%s: cannot claim: %s", name, e)
                    self.counts.add("errors")
                    continue
                if claim is not None:
                    return claim
                # vanished or claimed by another receiver: next

    # -- running --------------------------------------------------------------------
    def process(self, claim: Claim) -> None:
        """Plan and run one jobspec, journaled; then file it as done or failed."""
        from jobspec.api import installed_transformers
        from jobspec.document.load import load
        from jobspec.engine.journal import Journal
        from jobspec.engine.plan import plan
        from jobspec.engine.run import execute

        started = time.time()
        result: dict[str, Any] = {"id": claim.id, "file": claim.name, "started": started}
        try:
            jobspec = load(claim.path, check=False)
            jobspec.source = claim.name  # where the user will look for it: done/ or failed/
            jobspec.taken_in = taken_in(self.spool.files_of(claim.id))  # its copy steps' own files
            the_plan = plan(jobspec, self.transformer(), other_systems=installed_transformers)
            stream = _LogStream(claim.id)
            reporter = Reporter(stream=stream, output=stream, color=False)  # type: ignore[arg-type]
            journal = Journal(claim.journal_path, key_prefix=claim.id)
            run = execute(the_plan, reporter, journal=journal, should_stop=self.stopping.is_set)
        except TransformerUnavailable as e:  # not the jobspec's fault: leave it waiting
            log.error("%s: %s", claim.id, e)
            self.counts.add("errors")
            self._give_back(claim)
            return
        except JobspecError as e:
            result.update(state="failed", reason=str(e), problems=[p.to_dict() for p in e.problems])
        except OSError as e:
            result.update(state="failed", reason=f"cannot run: {e}")
        else:
            if run.interrupted:
                self._give_back(claim)
                return
            result.update(run.to_dict())
            result.update(state="done" if run.ok else "failed", reason=run.error)
        result["ended"] = time.time()
        state = result["state"]
        try:
            claim.finish(state, result)
        except OSError as e:
            log.error("%s: cannot file the result in %s/: %s", claim.id, state, e)
            self.counts.add("errors")
            claim.release()  # stays in active/: a later recovery files it
            return
        self.counts.add(state)
        log.info("%s: %s%s", claim.id, state, f" ({result.get('reason')})" if state == "failed" else "")

    def _give_back(self, claim: Claim) -> None:
        try:
            claim.give_back()
        except OSError as e:
            log.error("%s: cannot return to incoming/: %s", claim.id, e)
            claim.release()
        self.counts.add("given_back")
        log.info("%s: stopped between steps; left waiting for the next receiver", claim.id)

    def _work(self, once: bool) -> None:
        for claim in self._claims(once):
            try:
                self.process(claim)
            except Exception as e:  # a bug must not take the receiver down, nor retry the jobspec forever
                log.exception("%s: unexpected error", claim.id)
                self.counts.add("errors")
                self._fail(claim, f"unexpected error while running it: {type(e).__name__}: {e}")

    def _fail(self, claim: Claim, reason: str) -> None:
        """File a claim in failed/ with ``reason``; left in active/ only if even that fails."""
        try:
            claim.finish("failed", {"id": claim.id, "file": claim.name, "state": "failed", "reason": reason})
        except Exception as e:
            log.error("%s: cannot file the result in failed/: %s", claim.id, e)
            claim.release()
            return
        self.counts.add("failed")

    def run(self, once: bool = False) -> Counts:
        """Receive until stopped (or, with ``once``, until nothing is waiting)."""
        self.spool.create(("incoming", "active", "journal"))  # needed to claim anything at all
        for name in ("done", "failed"):
            try:
                self.spool.create((name,))
            except OSError as e:  # each jobspec that cannot be filed is reported, and kept
                log.error("cannot create %s: %s", self.spool.dir(name), e)
        # One thread a worker, not Transformer.threads: a killed receiver's submissions still in
        # flight may reach Flux after the next receiver looked their keys up (see README)
        threads = [threading.Thread(target=self._work, args=(once,), daemon=True) for _ in range(self.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # short joins keep the main thread responsive to signals
        return self.counts

    def stop(self, *_: Any) -> None:
        if not self.stopping.is_set():
            log.info("stopping: the steps under way finish, nothing new starts")
        self.stopping.set()


def serve(spool_dir: str, transformer: str | None, workers: int, once: bool, stream: TextIO | None = None) -> int:
    """The `jobspec receive` command."""
    logging.basicConfig(
        stream=stream or sys.stderr,
        level=logging.INFO,
        format="%(asctime)s receiver[%(process)d] %(message)s",
    )
    receiver = Receiver(Spool(spool_dir), transformer, workers)
    chosen = receiver.transformer()
    assert receiver.choice is not None
    log.info(
        "receiving from %s: transformer %s (%s), %d worker%s%s",
        spool_dir,
        chosen.name,
        receiver.choice.why,
        receiver.workers,
        "" if receiver.workers == 1 else "s",
        ", until nothing is waiting" if once else "",
    )
    for name, why in receiver.choice.passed_over:
        log.info("passed over %s: %s", name, why)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, receiver.stop)
    counts = receiver.run(once=once)
    log.info(
        "receiver %d: %d done, %d failed, %d left waiting, %d errors",
        os.getpid(),
        counts.done,
        counts.failed,
        counts.given_back,
        counts.errors,
    )
    return 0
