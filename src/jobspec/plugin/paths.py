"""Paths inside the staging directory: nothing a step names may lead out of it."""

from __future__ import annotations

import os
from pathlib import Path


def outside_reason(relative: str) -> str | None:
    """Why ``relative`` cannot name a place inside the staging directory, or None."""
    if not relative or relative.strip() != relative:
        return "must be a file name inside the staging directory, not empty or padded with spaces"
    if "\0" in relative:
        return "must not contain a NUL character"
    if relative.startswith("/"):
        return f"'{relative}' is an absolute path: give a path inside the staging directory"
    if ".." in relative.split("/"):
        return f"'{relative}' leads out of the staging directory ('..' is not allowed)"
    return None


def resolve_in_stage(stage: Path, relative: str, root: str | None = None) -> Path:
    """The path of ``relative`` in ``stage``; ValueError if it leads out (symlinks included).
    ``root``: the stage's real path, when the caller has it already (`real_stage`)."""
    reason = outside_reason(relative)
    if reason:
        raise ValueError(reason)
    root = root or real_stage(stage)
    real = _real_under(root, relative)
    if real != root and not real.startswith(root.rstrip("/") + "/"):
        raise ValueError(f"'{relative}' leads out of the staging directory through a symbolic link")
    return Path(root, relative)


def real_stage(stage: Path) -> str:
    """The stage's real path (links followed), as `resolve_in_stage` compares against."""
    return os.path.realpath(stage)


def _real_under(root: str, relative: str) -> str:
    """The real path of ``relative`` under the real path ``root``: os.path.realpath's answer,
    found by looking at the parts of ``relative`` only, and only down to the first that does
    not exist yet (usually the file a step is about to write: one lstat, not one a part of
    the whole path). A link on the way: realpath itself."""
    import stat

    parts = [part for part in relative.split("/") if part and part != "."]
    path = root.rstrip("/")
    for i, part in enumerate(parts):
        path = f"{path}/{part}"
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            return "/".join((path, *parts[i + 1 :]))  # nothing there, so no link below it either
        if stat.S_ISLNK(mode):
            return os.path.realpath(os.path.join(root, relative))
    return path or "/"


# The staging directory: jobspec writes only into one it made, a new one, or an empty one;
# never into a folder that holds files of someone else's. A stage it made is told by this
# marker file (a named `stage:` folder), or, for the temporary ones (`TEMP_STAGE_PREFIX`,
# made by mkdtemp: private and new), by what mkdtemp made: no marker is written in those,
# as a new file can cost up to 0.3 ms of CPU on a busy ext4 and every run without `stage:` makes one.
STAGE_MARKER = ".jobspec-stage"
TEMP_STAGE_PREFIX = "jobspec-"


def stage_refusal(stage: Path) -> str | None:
    """Why ``stage`` cannot be a staging directory, or None: it must be missing (it is
    made then), empty, or one jobspec made before (it holds the marker, or it is one of
    its temporary stages: see `is_temp_stage`)."""
    try:
        if stage.is_symlink() or not stage.is_dir():
            if stage.exists() or stage.is_symlink():
                return f"stage {stage} exists and is not a folder"
            return None
        entries = os.listdir(stage)
    except OSError as e:
        return f"stage {stage} cannot be used: {e.strerror}"
    if entries and STAGE_MARKER not in entries and not is_temp_stage(stage):
        return (
            f"stage {stage} already holds files jobspec did not put there: name a new or empty folder "
            "(jobspec makes it), or one an earlier jobspec run made"
        )
    return None


def is_temp_stage(stage: Path) -> bool:
    """True for a temporary stage an earlier run made (`new_temp_stage`): a folder (not a
    link) named ``jobspec-*`` right in the temporary directory, the user's own and private
    (0700), as mkdtemp makes it."""
    import stat
    import tempfile

    if not stage.name.startswith(TEMP_STAGE_PREFIX):
        return False
    try:
        if os.path.realpath(stage.parent) != os.path.realpath(tempfile.gettempdir()):
            return False
        info = os.lstat(stage)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077 == 0


def new_temp_stage() -> Path:
    """A new private temporary stage (0700, in the temporary directory), without a marker:
    `is_temp_stage` knows it again."""
    import tempfile  # here: validate and dry runs never need it, and it costs start-up

    return Path(tempfile.mkdtemp(prefix=TEMP_STAGE_PREFIX))


def claim_stage(stage: Path) -> None:
    """Make a named ``stage`` (private, 0700) if it is missing, and mark it as jobspec's."""
    stage.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker = stage / STAGE_MARKER
    if not marker.exists():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
