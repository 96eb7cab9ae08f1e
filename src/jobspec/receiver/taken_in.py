"""The files a spool entry's `copy` steps read, taken in when it is enqueued, so the entry
runs the same after its original folder changes or is gone.

An entry's files live in ``files/<entry id>/``: each source in ``<step index>/<its name>``
(the name is kept: a copy without a destination is named after its source) and a
``manifest.json`` mapping each source as written to its copy. They are copied with the
copy step's own rules: a folder's link that leads out of it is refused, unread.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobspec.document.model import Jobspec
from jobspec.document.problems import Problem

MANIFEST = "manifest.json"


def copy_sources(jobspec: Jobspec) -> list[tuple[int, str, Path]]:
    """(step index, source as written, where it is now) of each copy step."""
    found = []
    for index, options in enumerate(jobspec.transform):
        if isinstance(options, dict) and options.get("step") == "copy" and isinstance(options.get("source"), str):
            written = options["source"]
            found.append((index, written, jobspec.base_dir / os.path.expanduser(written)))
    return found


def take_in(jobspec: Jobspec, folder: Path) -> list[Problem]:
    """Copy what ``jobspec``'s copy steps read into ``folder`` (new), with a manifest;
    the problems that stop it, each at its step's source."""
    from jobspec.plugin.files import copy_file, copy_folder

    folder.mkdir(mode=0o700)
    manifest: dict[str, str] = {}
    problems = []
    for index, written, source in copy_sources(jobspec):
        if written in manifest:
            continue
        inside = Path(str(index), source.name or "source")
        target = folder / inside
        target.parent.mkdir(mode=0o700)
        try:
            if source.is_dir():
                copy_folder(source, target)
            else:
                copy_file(source, target)
        except (OSError, ValueError) as e:
            why = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror else str(e)
            where = (*jobspec.task_path, "transform", index, "source")
            problems.append(Problem(f"cannot take it into the spool: {why}", path=where))
            continue
        manifest[written] = str(inside)
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2))
    os.chmod(folder / MANIFEST, 0o600)
    return problems


def taken_in(folder: Path) -> dict[str, Path]:
    """Source as written -> its copy in ``folder``; empty where the entry has none."""
    if not os.path.isdir(folder):  # most entries take in nothing: one stat, not a failed open
        return {}
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return {}
    return {str(written): folder / inside for written, inside in manifest.items()}
