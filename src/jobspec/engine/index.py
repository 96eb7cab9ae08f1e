"""The index of jobs submitted through jobspec, any backend: what ``jobspec list``,
``logs`` and ``prune`` read.

One SQLite file (the standard library's) under the state directory, ``jobs.sqlite``,
private (0600) since it names stages and output files. The engine writes a row the
moment a job step has a job id and updates it when a step sees the job end, so the
index is written in one place for every transformer (and the receiver's runs too).
The index only remembers: the scheduler stays the authority on a job's state.

It is written in SQLite's write-ahead-log mode with ``synchronous=NORMAL``: a commit
is one append to the log, not an fsync of the database and its rollback journal, so
many runs of one process (the receiver's workers, ``run_many``) do not queue behind
each other's fsyncs (that cost 2-4 ms a job, serialised). A process killed outright
loses nothing; an operating-system crash may lose the last rows, as the run journals
may (they are not fsynced either). The schema is made once per process and file.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

FINAL = ("completed", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT NOT NULL,
    transformer TEXT NOT NULL,
    step        TEXT NOT NULL,
    source      TEXT,
    stage       TEXT,
    stdout      TEXT,
    stderr      TEXT,
    submitted   REAL NOT NULL,
    state       TEXT NOT NULL,
    exit_code   INTEGER,
    updated     REAL NOT NULL,
    PRIMARY KEY (transformer, job_id)
);
CREATE INDEX IF NOT EXISTS jobs_by_time ON jobs (submitted);
"""

_ready: set[Path] = set()  # index files this process has made the schema and WAL mode of
_ready_lock = threading.Lock()
_writer: tuple[Path, sqlite3.Connection] | None = None  # see JobIndex._write
_writer_lock = threading.Lock()


def _close_writer() -> None:
    global _writer
    with _writer_lock:
        if _writer is not None:
            _writer[1].close()
            _writer = None


atexit.register(_close_writer)


def state_dir() -> Path:
    """``$JOBSPEC_STATE_DIR``, else ``$XDG_STATE_HOME/jobspec`` or ``~/.local/state/jobspec``
    (the local job store's rule too: that module stays free of jobspec imports)."""
    base = os.environ.get("JOBSPEC_STATE_DIR")
    if base:
        return Path(base)
    xdg = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(xdg) / "jobspec"


@dataclass
class IndexedJob:
    job_id: str
    transformer: str
    step: str
    source: str | None
    stage: str | None
    stdout: str | None
    stderr: str | None
    submitted: float
    state: str
    exit_code: int | None
    updated: float

    @property
    def done(self) -> bool:
        return self.state in FINAL


class JobIndex:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or state_dir() / "jobs.sqlite"

    def _open(self, create: bool) -> sqlite3.Connection:
        import sqlite3  # here: only runs that submit a job, and list/logs/prune, pay for it

        if create and not self.path.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
            _ready.discard(self.path)  # removed since: a new file needs its schema
        db = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
        try:
            if create and self.path not in _ready:
                with _ready_lock:
                    db.execute("PRAGMA journal_mode=WAL")  # kept in the file: every later opening uses it
                    db.executescript(_SCHEMA)
                    _ready.add(self.path)
            db.execute("PRAGMA synchronous=NORMAL")  # a setting of each connection
        except BaseException:
            db.close()
            raise
        return db

    @contextmanager
    def _db(self, create: bool = True) -> Iterator[sqlite3.Connection]:
        db = self._open(create)
        try:
            with db:  # one transaction, committed on leaving
                yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction on this process's writing connection, kept open: closing the last
        connection checkpoints the log into the database (an fsync each time), which a row
        per submitted job cannot afford. One writer at a time, as SQLite allows anyway."""
        global _writer
        with _writer_lock:
            if _writer is not None and (_writer[0] != self.path or not self.path.exists()):
                _writer[1].close()  # another index file (tests), or this one removed
                _writer = None
            if _writer is None:
                _writer = (self.path, self._open(create=True))
            db = _writer[1]
            try:
                with db:
                    yield db
            except BaseException:
                _writer = None
                db.close()
                raise

    def add(
        self,
        job_id: str,
        transformer: str,
        step: str,
        source: str | None = None,
        stage: str | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
    ) -> None:
        now = time.time()
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'submitted', NULL, ?)",
                (job_id, transformer, step, source, stage, stdout, stderr, now, now),
            )

    def set_state(self, job_id: str, transformer: str, state: str, exit_code: int | None) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET state = ?, exit_code = ?, updated = ? WHERE job_id = ? AND transformer = ?",
                (state, exit_code, time.time(), job_id, transformer),
            )

    def jobs(self, limit: int | None = None) -> list[IndexedJob]:
        """Newest first."""
        if not self.path.exists():
            return []
        with self._db(create=False) as db:
            rows = db.execute(
                "SELECT * FROM jobs ORDER BY submitted DESC, rowid DESC LIMIT ?", (-1 if limit is None else limit,)
            ).fetchall()
        return [IndexedJob(*row) for row in rows]

    def find(self, job_id: str) -> IndexedJob | None:
        if not self.path.exists():
            return None
        with self._db(create=False) as db:
            row = db.execute(
                "SELECT * FROM jobs WHERE job_id = ? ORDER BY submitted DESC LIMIT 1", (job_id,)
            ).fetchone()
        return IndexedJob(*row) if row else None

    def prune(self, days: float) -> int:
        """Forget jobs submitted more than ``days`` ago that have ended; how many.
        Jobs not known to have ended stay: they may still be running."""
        if not self.path.exists():
            return 0
        cutoff = time.time() - days * 86400
        marks = ", ".join("?" * len(FINAL))
        with self._db(create=False) as db:
            done = db.execute(f"DELETE FROM jobs WHERE submitted < ? AND state IN ({marks})", (cutoff, *FINAL))
        return done.rowcount
