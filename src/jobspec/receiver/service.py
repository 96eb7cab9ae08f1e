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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.document.problems import JobspecError
from jobspec.engine.pipeline import Window
from jobspec.engine.run import Execution, Reporter
from jobspec.plugin.errors import TransformerError, TransformerUnavailable
from jobspec.plugin.transformer import Transformer
from jobspec.receiver.spool import Claim, NotAJobspecFile, Spool
from jobspec.receiver.taken_in import taken_in

if TYPE_CHECKING:
    from jobspec.transformers.registry import Choice

log = logging.getLogger("jobspec.receiver")

RECOVER_EVERY = 5.0  # seconds between looks for claims whose receiver died


LOG_FORMAT = "%(asctime)s receiver[%(process)d] %(message)s"  # the command's log lines


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


class _LogReporter(Reporter):
    """A run's lines in the receiver's log. Its warnings and a watched job's output come
    at once; each step's line only with ``--verbose`` (debug): the jobspec's own line, as
    it is filed, names its jobs or why it failed. A line is a log record, whose cost
    (about 20 us) a busy receiver pays for every jobspec."""

    def __init__(self, prefix: str) -> None:
        stream = _LogStream(prefix)
        super().__init__(stream=stream, output=stream, color=False)  # type: ignore[arg-type]
        self.prefix = prefix

    def step_ok(self, label: str, summary: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: => step %s%s OK", self.prefix, label, f" {summary}" if summary else "")

    def step_failed(self, label: str, error: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s: => step %s FAILED: %s", self.prefix, label, error)


@dataclass
class UnderWay:
    """A claimed jobspec whose run has started: its last job step may await an answer."""

    claim: Claim
    result: dict[str, Any]
    execution: Execution


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
        self._orphans: deque[Claim] = deque()  # of dead receivers, locked by this one, to resume
        self._queue_lock = threading.Lock()
        self._recovered_at = 0.0
        self._transformer: Transformer | None = None
        self._in_flight = 1
        self.choice: Choice | None = None

    def transformer(self) -> Transformer:
        """One instance for the whole receiver (its readiness is checked once)."""
        if self._transformer is None:
            from jobspec.transformers.registry import get_transformer_registry

            self.choice = get_transformer_registry().choice(self.transformer_name)
            self._transformer = self.choice.cls()
        return self._transformer

    # -- finding work -------------------------------------------------------------
    def _claims(self, once: bool, idle: Callable[[], None]) -> Iterator[Claim]:
        """Claims, oldest first: orphans of dead receivers, then incoming/. ``idle`` is called
        whenever nothing is waiting (the worker finishes what it has under way)."""
        while not self.stopping.is_set():
            claim = self._next_claim()
            if claim is not None:
                yield claim
                continue
            idle()
            if once:
                return
            self.stopping.wait(self.poll)

    def _next_claim(self) -> Claim | None:
        with self._queue_lock:
            recover = time.monotonic() - self._recovered_at > RECOVER_EVERY
            if recover:
                self._recovered_at = time.monotonic()
        if recover:  # outside the lock: settling may take a while, and the other workers go on
            found = self._recover()
            with self._queue_lock:
                self._orphans.extend(found)
        with self._queue_lock:
            if self._orphans:
                orphan = self._orphans.popleft()
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

    def _recover(self) -> list[Claim]:
        """Claims whose receiver died, locked by this one to resume, once the scheduler has
        settled what that receiver left on its way (see Transformer.settle_submissions);
        none this time when it cannot tell (they are tried again later)."""
        orphans = self.spool.orphans()
        if not orphans:
            return []
        try:
            self.transformer().settle_submissions()
        except (TransformerError, TransformerUnavailable) as e:
            log.error("not resuming %d jobspecs of a stopped receiver yet: %s", len(orphans), e)
            for orphan in orphans:
                orphan.release()
            return []
        return orphans

    # -- running --------------------------------------------------------------------
    def process(self, claim: Claim) -> None:
        """Plan and run one jobspec, journaled; then file it as done or failed."""
        under_way = self.start(claim)
        if under_way is not None:
            self.finish(under_way)

    def start(self, claim: Claim) -> UnderWay | None:
        """Plan one jobspec and run its steps, journaled; None when it is already filed (bad
        input) or given back. Its last job step may still wait for the scheduler's answer."""
        from jobspec.api import installed_transformers
        from jobspec.document.load import load
        from jobspec.engine.journal import Journal
        from jobspec.engine.plan import plan
        from jobspec.engine.run import Execution

        result: dict[str, Any] = {"id": claim.id, "file": claim.name, "started": time.time()}
        try:
            jobspec = load(claim.path, check=False)
            jobspec.source = claim.name  # where the user will look for it: done/ or failed/
            jobspec.taken_in = taken_in(self.spool.files_of(claim.id))  # its copy steps' own files
            the_plan = plan(jobspec, self.transformer(), other_systems=installed_transformers)
            reporter = _LogReporter(claim.id)
            journal = Journal(claim.journal_path, key_prefix=claim.id)
            execution = Execution(the_plan, reporter, journal=journal, should_stop=self.stopping.is_set, pipelined=True)
            return UnderWay(claim, result, execution.start())
        except TransformerUnavailable as e:  # not the jobspec's fault: leave it waiting
            log.error("%s: %s", claim.id, e)
            self.counts.add("errors")
            self._give_back(claim)
            return None
        except JobspecError as e:
            result.update(state="failed", reason=str(e), problems=[p.to_dict() for p in e.problems])
        except OSError as e:
            result.update(state="failed", reason=f"cannot run: {e}")
        self._file(claim, result)
        return None

    def finish(self, under_way: UnderWay) -> None:
        """Take the scheduler's answer to a run's last step, then file the jobspec."""
        claim, result = under_way.claim, under_way.result
        try:
            run = under_way.execution.finish()
        except OSError as e:
            result.update(state="failed", reason=f"cannot run: {e}")
        else:
            if run.interrupted:
                self._give_back(claim)
                return
            result.update(run.to_dict())
            result.update(state="done" if run.ok else "failed", reason=run.error)
        self._file(claim, result)

    def _file(self, claim: Claim, result: dict[str, Any]) -> None:
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
        if state == "failed":
            log.info("%s: failed (%s)", claim.id, result.get("reason"))
        else:
            jobs = result.get("job_ids") or []
            named = f" ({'job' if len(jobs) == 1 else 'jobs'} {', '.join(jobs)})" if jobs else ""
            log.info("%s: done%s", claim.id, named)

    def _give_back(self, claim: Claim) -> None:
        try:
            claim.give_back()
        except OSError as e:
            log.error("%s: cannot return to incoming/: %s", claim.id, e)
            claim.release()
        self.counts.add("given_back")
        log.info("%s: stopped between steps; left waiting for the next receiver", claim.id)

    def _work(self, once: bool) -> None:
        """One worker: claims in turn, up to ``in_flight`` of them under way (see
        Transformer.in_flight); what is under way is finished before the worker waits for
        more work or stops."""
        window: Window[UnderWay] = Window(self._in_flight, self._finish_guarded)
        try:
            for claim in self._claims(once, window.drain):
                try:
                    under_way = self.start(claim)
                except Exception as e:
                    self._unexpected(claim, e)
                    continue
                if under_way is not None:
                    window.add(under_way)
        finally:
            window.drain()

    def _finish_guarded(self, under_way: UnderWay) -> None:
        try:
            self.finish(under_way)
        except Exception as e:
            self._unexpected(under_way.claim, e)

    def _unexpected(self, claim: Claim, e: Exception) -> None:
        """A bug must not take the receiver down, nor retry the jobspec forever."""
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
        try:  # jobspecs a worker keeps under way (see Transformer.in_flight)
            self._in_flight = self.transformer().in_flight
        except Exception:  # each jobspec will fail with the reason
            self._in_flight = 1
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


def serve(
    spool_dir: str,
    transformer: str | None,
    workers: int,
    once: bool,
    stream: TextIO | None = None,
    verbose: bool = False,
) -> int:
    """The `jobspec receive` command."""
    logging.basicConfig(
        stream=stream or sys.stderr,
        level=logging.INFO,
        format=LOG_FORMAT,
    )
    if verbose:
        log.setLevel(logging.DEBUG)  # the receiver's own lines, not every library's debugging
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
