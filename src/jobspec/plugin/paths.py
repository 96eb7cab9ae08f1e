"""Paths inside the staging directory: nothing a step names may lead out of it."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath


def outside_reason(relative: str) -> str | None:
    """Why ``relative`` cannot name a place inside the staging directory, or None."""
    if not relative or relative.strip() != relative:
        return "must be a file name inside the staging directory, not empty or padded with spaces"
    if "\0" in relative:
        return "must not contain a NUL character"
    pure = PurePosixPath(relative)
    if pure.is_absolute():
        return f"'{relative}' is an absolute path: give a path inside the staging directory"
    if ".." in pure.parts:
        return f"'{relative}' leads out of the staging directory ('..' is not allowed)"
    return None


def resolve_in_stage(stage: Path, relative: str) -> Path:
    """The path of ``relative`` in ``stage``; ValueError if it leads out (symlinks included)."""
    reason = outside_reason(relative)
    if reason:
        raise ValueError(reason)
    root = stage.resolve()
    full = root / relative
    real = full.resolve()
    if real != root and not real.is_relative_to(root):
        raise ValueError(f"'{relative}' leads out of the staging directory through a symbolic link")
    return full


# The staging directory: jobspec writes only into one it made (marked by this file), a
# new one, or an empty one; never into a folder that holds files of someone else's.
STAGE_MARKER = ".jobspec-stage"


def stage_refusal(stage: Path) -> str | None:
    """Why ``stage`` cannot be a staging directory, or None: it must be missing (it is
    made then), empty, or one jobspec made before (it holds the marker)."""
    try:
        if stage.is_symlink() or not stage.is_dir():
            if stage.exists() or stage.is_symlink():
                return f"stage {stage} exists and is not a folder"
            return None
        entries = os.listdir(stage)
    except OSError as e:
        return f"stage {stage} cannot be used: {e.strerror}"
    if entries and STAGE_MARKER not in entries:
        return (
            f"stage {stage} already holds files jobspec did not put there: name a new or empty folder "
            "(jobspec makes it), or one an earlier jobspec run made"
        )
    return None


def claim_stage(stage: Path) -> None:
    """Make ``stage`` (private, 0700) if it is missing, and mark it as jobspec's."""
    stage.mkdir(mode=0o700, parents=True, exist_ok=True)
    marker = stage / STAGE_MARKER
    if not marker.exists():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
