"""The spool directory: where jobspecs wait, run, and end. Mail and print spools work alike.

Layout (any program may enqueue by following the first two lines)::

    tmp/       write a jobspec here first ...
    incoming/  ... then rename it in: a reader never sees half a file. Names sort in
               arrival order: jobspec's own are <ns since epoch>-<pid>-<random>-<name>.yaml
    active/    claimed by a receiver, which holds an flock on the file while it works
    journal/   <id>.jsonl: the steps a jobspec completed, so a restart repeats none
    files/     <id>/: what its copy steps read, taken in at enqueue (see `taken_in`);
               removed when it is done, kept with a failed one so it can be put back
    done/      <file> and <id>.result.json: every step completed
    failed/    <file> and <id>.result.json: a bad jobspec or a failed step, with the reason

A claim is an flock taken on the file in incoming/ followed by its rename into
active/: the rename decides between receivers, and the lock tells a live claim
from one whose receiver died (its file is then resumed from its journal).

Only regular files are read. Anything else in incoming/ (a FIFO, a device, a
symbolic link, wherever it points) is moved, unread, into failed/ with the reason.
The spool is private: its folders are made 0700 and its files 0600, since a jobspec
and its result may carry the job's environment.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from jobspec.document.model import Jobspec
from jobspec.document.problems import JobspecError
from jobspec.receiver.taken_in import copy_sources, take_in

STATES = ("incoming", "active", "done", "failed")
SUFFIXES = (".yaml", ".yml", ".json")


PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def write_atomically(path: Path, data: bytes) -> None:
    """Write a private file whole: a reader sees the old one or the new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_ENCODER = json.JSONEncoder(default=str)  # ASCII: a reason may carry a file name's undecodable bytes


def result_json(result: dict[str, Any]) -> bytes:
    """A result file's text: a field a line, and a list's items (the steps) one a line.
    As easy to read as ``indent=2`` and a third of its cost: every value goes through
    the json module's C encoder, which ``indent`` turns off."""
    encode = _ENCODER.encode
    fields = []
    for key, value in result.items():
        if isinstance(value, list) and value:
            text = "[\n    " + ",\n    ".join(map(encode, value)) + "\n  ]"
        else:
            text = encode(value)
        fields.append(f"  {encode(key)}: {text}")
    return ("{\n" + ",\n".join(fields) + "\n}\n").encode()


class NotAJobspecFile(Exception):
    """An entry in incoming/ that is not a regular file; it is filed in failed/ unread."""

    def __init__(self, name: str, what: str) -> None:
        super().__init__(f"{name} is {what}, not a regular file: it was not read")
        self.name = name


@dataclass
class Claim:
    """A jobspec this process is working on: its file in active/ and the lock on it."""

    spool: Spool
    name: str
    fd: int

    @cached_property
    def id(self) -> str:
        return Path(self.name).stem

    @property
    def path(self) -> Path:
        return self.spool.dir("active") / self.name

    @cached_property
    def journal_path(self) -> Path:
        return self.spool.dir("journal") / f"{self.id}.jsonl"

    def finish(self, state: str, result: dict[str, Any]) -> None:
        """Record the result, then move the jobspec into done/ or failed/ (the commit point)."""
        target = self.spool.dir(state)
        write_atomically(target / f"{self.id}.result.json", result_json(result))
        os.rename(self.path, target / self.name)
        self.journal_path.unlink(missing_ok=True)
        files = self.spool.files_of(self.id)
        if state == "done" and os.path.isdir(files):  # most entries take in nothing: one stat
            import shutil

            shutil.rmtree(files, ignore_errors=True)
        self.release()

    def give_back(self) -> None:
        """Return the jobspec to incoming/ (shutting down): the next receiver resumes it."""
        os.rename(self.path, self.spool.dir("incoming") / self.name)
        self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Spool:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._dirs: dict[str, Path] = {}  # its folders' paths, made once (a claim asks a dozen times)

    def dir(self, name: str) -> Path:
        path = self._dirs.get(name)
        if path is None:
            path = self._dirs[name] = self.root / name
        return path

    def create(self, names: tuple[str, ...] = ("tmp", "journal", "files", *STATES)) -> None:
        if not self.root.is_dir():
            self.root.mkdir(mode=PRIVATE_DIR, parents=True)
        for name in names:
            self.dir(name).mkdir(mode=PRIVATE_DIR, exist_ok=True)

    def exists(self) -> bool:
        """Whether this folder is a spool (it has incoming/): the command never makes one
        by accident out of a mistyped path (`jobspec spool create` makes one)."""
        return self.dir("incoming").is_dir()

    def files_of(self, entry_id: str) -> Path:
        return self.dir("files") / entry_id

    def enqueue_text(self, text: str, name: str = "jobspec.yaml") -> Path:
        """Place a jobspec in incoming/, atomically; return its path there."""
        return self.prepare(text, name).commit()

    def prepare(self, text: str, name: str = "jobspec.yaml", jobspec: Jobspec | None = None) -> Prepared:
        """Write an entry into tmp/, with what ``jobspec``'s copy steps read (see
        `taken_in`), ready to `Prepared.commit`; JobspecError (after cleaning up) if
        those files cannot be taken in."""
        self.create(("tmp", "incoming"))
        stem, suffix = os.path.splitext(os.path.basename(name))
        suffix = suffix if suffix in SUFFIXES else ".yaml"
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:64] or "jobspec"
        entry = f"{time.time_ns():020d}-{os.getpid()}-{os.urandom(3).hex()}-{safe}{suffix}"
        prepared = Prepared(self, entry)
        fd = os.open(prepared.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if jobspec is not None and copy_sources(jobspec):
            problems = take_in(jobspec, prepared.tmp_files)
            if problems:
                prepared.discard()
                raise JobspecError(problems)
        return prepared

    def waiting(self) -> list[str]:
        """Names in incoming/, oldest first."""
        return sorted(n for n in os.listdir(self.dir("incoming")) if not n.startswith("."))

    def claim(self, name: str) -> Claim | None:
        """Claim incoming/``name``; None if another receiver has it or it vanished.
        NotAJobspecFile (after filing it in failed/) if it is not a regular file."""
        source = self.dir("incoming") / name
        try:
            fd = _open_locked(source)
        except NotAJobspecFile as e:
            self.refuse(name, str(e))
            raise
        if fd is None:
            return None
        try:
            os.rename(source, self.dir("active") / name)
        except FileNotFoundError:  # another receiver renamed it first
            os.close(fd)
            return None
        return Claim(self, name, fd)

    def refuse(self, name: str, reason: str) -> None:
        """Move incoming/``name`` into failed/ unread (the rename moves a link, not its
        target), with a result that says why. Another receiver may have done it first."""
        try:
            os.rename(self.dir("incoming") / name, self.dir("failed") / name)
        except FileNotFoundError:
            return
        result = {"id": Path(name).stem, "file": name, "state": "failed", "reason": reason, "ended": time.time()}
        write_atomically(self.dir("failed") / f"{Path(name).stem}.result.json", result_json(result))

    def orphans(self) -> list[Claim]:
        """Claims in active/ whose receiver died: locked now by this process, to resume."""
        found = []
        for name in sorted(os.listdir(self.dir("active"))):
            path = self.dir("active") / name
            try:
                fd = _open_locked(path)
            except NotAJobspecFile:
                continue  # only regular files are ever renamed into active/
            if fd is not None:
                found.append(Claim(self, name, fd))
        return found

    def status(self, failures: int = 5) -> dict[str, Any]:
        counts = {}
        for state in STATES:
            try:
                names = os.listdir(self.dir(state))
                counts[state] = len([n for n in names if n.endswith(SUFFIXES) and not n.endswith(".result.json")])
            except FileNotFoundError:
                counts[state] = 0
        oldest = None
        waiting = self.waiting() if self.dir("incoming").is_dir() else []
        if waiting:
            path = self.dir("incoming") / waiting[0]
            with contextlib.suppress(FileNotFoundError):
                oldest = {"name": waiting[0], "age_seconds": round(time.time() - path.stat().st_mtime, 1)}
        latest = []
        if self.dir("failed").is_dir():
            results = sorted(self.dir("failed").glob("*.result.json"), key=lambda p: p.stat().st_mtime, reverse=True)
            for path in results[:failures]:
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                latest.append({"id": data.get("id"), "file": data.get("file"), "reason": data.get("reason")})
        return {"spool": str(self.root), "counts": counts, "oldest_waiting": oldest, "latest_failures": latest}


@dataclass
class Prepared:
    """An entry written into tmp/ (with its files, if any), not yet visible to receivers."""

    spool: Spool
    entry: str

    @property
    def tmp(self) -> Path:
        return self.spool.dir("tmp") / self.entry

    @property
    def tmp_files(self) -> Path:
        return self.spool.dir("tmp") / f"{Path(self.entry).stem}.files"

    def commit(self) -> Path:
        """Make it visible: its files first, then the entry itself (the one rename that counts)."""
        if self.tmp_files.is_dir():
            self.spool.create(("files",))
            os.rename(self.tmp_files, self.spool.files_of(Path(self.entry).stem))
        target = self.spool.dir("incoming") / self.entry
        os.rename(self.tmp, target)
        return target

    def discard(self) -> None:
        import shutil

        self.tmp.unlink(missing_ok=True)
        shutil.rmtree(self.tmp_files, ignore_errors=True)


def _open_locked(path: Path) -> int | None:
    """An fd holding an exclusive lock on the file at ``path``, if it is free and still there.
    Opened without following a link and without blocking on a FIFO; NotAJobspecFile unless
    it is a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotAJobspecFile(path.name, "a symbolic link") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        what = "a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode) else "a device or socket"
        raise NotAJobspecFile(path.name, what)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # the lock is on the file, wherever it is now: make sure it is still at `path`
        if os.fstat(fd).st_ino != os.stat(path).st_ino:
            raise FileNotFoundError(path)
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None
    return fd
