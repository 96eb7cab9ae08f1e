"""Many jobspecs from one process: a few threads, each with several runs under way.

A worker thread starts a run (`Execution.start`) and, where the transformer sends a
job before the scheduler answers (`JobStep.start_submit`), goes on to the next
jobspec without waiting; it takes the answers (`Execution.finish`) once it has
``in_flight`` runs open, oldest first, and at the end. Flux's job-ingest answers
submissions in batches every 10 ms, so a run a thread would spend most of its time
waiting, and many threads would spend it fighting over the interpreter.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from jobspec.engine.run import Execution

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.result import RunResult
    from jobspec.engine.run import Reporter
    from jobspec.plugin.transformer import Transformer

Source = Any  # a Jobspec, a path, YAML or JSON text, or a mapping (see jobspec.load)
T = TypeVar("T")


class Window(Generic[T]):
    """The runs one thread has under way, at most ``size``: `add` one, and the oldest is
    finished (``close`` called on it) once there are more."""

    def __init__(self, size: int, close: Callable[[T], None]) -> None:
        self.size = max(1, size)
        self.close = close
        self.open: deque[T] = deque()

    def add(self, item: T) -> None:
        self.open.append(item)
        while len(self.open) >= self.size:
            self.close(self.open.popleft())

    def drain(self) -> None:
        """Finish every run still under way (before the thread waits or stops)."""
        while self.open:
            self.close(self.open.popleft())


def run_many(
    transformer: Transformer,
    sources: Iterable[Jobspec | str | os.PathLike[str] | dict[str, Any]],
    workers: int,
    reporter_for: Callable[[], Reporter],
) -> list[RunResult]:
    """Plan and run each source with ``transformer``, ``workers`` threads each keeping up to
    ``transformer.in_flight`` runs under way; the results in the order of ``sources``. Bad
    input gives a result whose error names the problems."""
    from jobspec.document.problems import JobspecError
    from jobspec.engine.plan import plan
    from jobspec.engine.result import RunResult

    items = list(sources)
    results: list[RunResult | None] = [None] * len(items)
    queue: Iterator[tuple[int, Any]] = iter(enumerate(items))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def finish(entry: tuple[int, Execution]) -> None:
        number, execution = entry
        results[number] = execution.finish()

    def work() -> None:
        window: Window[tuple[int, Execution]] = Window(transformer.in_flight, finish)
        try:
            while True:
                with lock:
                    taken = next(queue, None)
                if taken is None:
                    break
                number, source = taken
                try:
                    the_plan = plan(source, transformer)
                except JobspecError as e:
                    results[number] = RunResult(transformer.name, str(source), error=str(e))
                    continue
                window.add((number, Execution(the_plan, reporter_for(), pipelined=True).start()))
        except BaseException as e:  # re-raised in the caller's thread
            failures.append(e)
        finally:
            window.drain()

    threads = [
        threading.Thread(target=work, name=f"jobspec-{transformer.name}-{i}", daemon=True)
        for i in range(max(1, min(workers, len(items))))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return [r for r in results if r is not None]
