"""A run's journal: the steps it completed, on disk, so a run cut short resumes
without doing any job step twice.

One JSON object per line, appended as each step completes and handed to the
operating system at once (a process killed at any moment, kill -9 included,
loses nothing; an operating-system crash may lose the last lines, which is why
journals are not fsynced: the receiver spends its time on submitting):
first the staging directory (created before any step runs, so a resumed run
uses the same one), then one line per completed step. A torn last line (the
process killed mid-write) is ignored. Submissions carry a key unique to (run,
step) that the transformer records with the job in the scheduler itself; on
resume, the first job step missing from the journal is first looked up by that
key: the attempt that was cut short may have submitted it just before dying (the
steps after it never started).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class Journal:
    def __init__(self, path: Path, key_prefix: str) -> None:
        self.path = path
        self.key_prefix = key_prefix  # unique to the run; a step's key is "<prefix>.<index>"
        self.stage: str | None = None
        self.completed: dict[int, dict[str, Any]] = {}
        # An earlier attempt got as far as its first step (the stage line comes first):
        # only then can a job have been submitted without being recorded.
        self.resumed = os.path.exists(self.path)  # (a new run's usual case: one failed stat, no open)
        if self.resumed:
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
            if "stage" in entry:
                self.stage = entry["stage"]
            elif "index" in entry:
                self.completed[int(entry["index"])] = entry

    def _append(self, entry: dict[str, Any]) -> None:
        data = (json.dumps(entry, default=str) + "\n").encode()
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
        try:
            fd = os.open(self.path, flags, 0o600)  # private: it names the stage and jobs
        except FileNotFoundError:  # its folder is made the first time only
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self.path, flags, 0o600)
        try:
            view = memoryview(data)
            while view:  # one write, as a line is short: a kill leaves a whole line or none
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def set_stage(self, stage: str) -> str:
        self._append({"stage": stage})
        self.stage = stage
        return stage

    def record(self, index: int, entry: dict[str, Any]) -> None:
        entry = {"index": index, **entry}
        self._append(entry)
        self.completed[index] = entry

    def key(self, index: int) -> str:
        return f"{self.key_prefix}.{index}"
