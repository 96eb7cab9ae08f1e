"""Paths inside the staging directory: nothing a step names may lead out of it."""

from __future__ import annotations

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
