"""Following a running job: its output files streamed as they grow, until it ends.

One loop for every backend that writes a job's output to files it can read
(local, Slurm). Bytes are decoded incrementally, so a UTF-8 character split
across two reads comes out whole.
"""

from __future__ import annotations

import codecs
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from jobspec.plugin.status import JobStatus


def error_sink(out: TextIO) -> TextIO:
    """Where a job's standard error goes: the terminal's stderr when its output goes to
    stdout, else the same stream as its output (a caller's buffer, say)."""
    return sys.stderr if out is sys.stdout else out


class _Tail:
    """One file read from where the last read stopped."""

    def __init__(self, path: str, sink: TextIO) -> None:
        self.path = path
        self.sink = sink
        self.offset = 0
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def drain(self, final: bool = False) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            data = b""
        self.offset += len(data)
        text = self.decoder.decode(data, final=final)
        if text:
            self.sink.write(text)
            self.sink.flush()


def follow_files(
    streams: Sequence[tuple[str, TextIO]],
    status: Callable[[], JobStatus],
    *,
    first: float = 0.05,
    longest: float = 0.5,
    tick: float = 0.05,
) -> JobStatus:
    """Copy each (file, sink) as the file grows until ``status()`` says the job is done;
    return that final status. ``status`` is asked after ``first`` seconds, then less
    and less often up to every ``longest``; the files are read every ``tick``."""
    tails = [_Tail(path, sink) for path, sink in streams]
    delay = first
    next_check = 0.0
    while True:
        for tail in tails:
            tail.drain()
        now = time.monotonic()
        if now >= next_check:
            final = status()
            if final.done:
                for tail in tails:
                    tail.drain(final=True)
                return final
            next_check = now + delay
            delay = min(delay * 1.5, longest)
        time.sleep(max(0.0, min(tick, next_check - time.monotonic())))
