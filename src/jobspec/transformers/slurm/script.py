"""The scripts jobspec hands to sbatch: the one a ``submit`` generates, the wrapper of a
``batch`` that must stage files first, and the lines that stage them.

Pure text (and `pack`, which reads the staging directory into an archive for the
script to carry). Every word of a command inside a script is quoted on its own.
"""

from __future__ import annotations

import io
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobspec.document.resources import ResourceCounts
from jobspec.plugin import script_command
from jobspec.plugin.paths import STAGE_MARKER
from jobspec.transformers.slurm.request import layout_options

# Slurm's default max_script_size (SchedulerParameters): 4 MB per batch script.
MAX_SCRIPT_BYTES = 4 * 1024 * 1024

# Per task: the rank and count the local transformer also gives, then the command.
TASK_SHELL = 'export JOBSPEC_TASK_RANK="$SLURM_PROCID" JOBSPEC_TASK_COUNT="$SLURM_NTASKS"; exec "$@"'


def submit_script(command: Sequence[str], counts: ResourceCounts, preamble: str = "") -> str:
    """The batch script of a ``submit``: ``srun`` starts the task count of ``command``.

    Each task gets JOBSPEC_TASK_RANK and JOBSPEC_TASK_COUNT (as with the local
    transformer) beside Slurm's own SLURM_PROCID and SLURM_NTASKS.
    """
    srun = ["srun", *layout_options(counts, step=True), "/bin/sh", "-c", TASK_SHELL, "jobspec-task", *command]
    tasks = counts.tasks
    return (
        "#!/bin/sh\n"
        f"# jobspec: the task, started as {tasks} task{'s' if tasks != 1 else ''} by srun in this allocation\n"
        f"{preamble}"
        f"exec {shlex.join(srun)}\n"
    )


def sbatch_directives(content: str) -> list[str]:
    """The ``#SBATCH`` lines of a script's header (sbatch reads none after the first command)."""
    lines = content.splitlines()[1:] if content.startswith("#!") else content.splitlines()
    found = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if stripped.startswith("#SBATCH"):
            found.append(stripped)
    return found


def batch_wrapper(script_path: str, content: str, preamble: str) -> str:
    """A ``batch`` that must first stage files: a wrapper that keeps the script's
    ``#SBATCH`` lines, stages, then runs the script (by its ``#!`` line) in its place."""
    directives = "".join(f"{line}\n" for line in sbatch_directives(content))
    return (
        "#!/bin/sh\n"
        f"{directives}"
        "# jobspec: stage the files on every node, then run the batch script\n"
        f"{preamble}"
        f"exec {shlex.join(script_command(script_path, content))}\n"
    )


STAGE_END = "JOBSPEC_STAGE_END"


def stage_preamble(archive_base64: str, target: str) -> str:
    """Script lines that put the staged files on every node of the job.

    The files travel inside the batch script (a base64 tar.gz), since without a
    shared filesystem nothing of the submitting machine is visible on the nodes.
    On the first node the archive is decoded, ``sbcast`` copies it to every node
    of the job, and one task per node unpacks it into ``target`` (the staging
    directory, same path everywhere). ``--overwrite`` keeps this safe where
    several nodes share a filesystem after all (they write the same bytes).
    """
    per_node = '--nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --cpus-per-task=1'
    unpack = 'mkdir -p "$1" && tar -xzf "$2" --overwrite -C "$1"'
    body = archive_base64 if archive_base64.endswith("\n") else archive_base64 + "\n"
    return (
        "# jobspec: the staged files (sharedfs: false) are in this script; sbcast sends them to every node\n"
        'jobspec_stage="/tmp/jobspec-stage-$SLURM_JOB_ID.tar.gz"\n'
        f"base64 -d > \"$jobspec_stage.src\" <<'{STAGE_END}' || exit 1\n"
        f"{body}"
        f"{STAGE_END}\n"
        'sbcast --force "$jobspec_stage.src" "$jobspec_stage" '
        "|| { echo 'jobspec: sbcast of the staged files failed' >&2; exit 1; }\n"
        'rm -f "$jobspec_stage.src"\n'
        f'srun {per_node} /bin/sh -c {shlex.quote(unpack)} jobspec-stage {shlex.quote(target)} "$jobspec_stage" '
        "|| { echo 'jobspec: unpacking the staged files failed' >&2; exit 1; }\n"
        f'srun {per_node} rm -f "$jobspec_stage"\n'
    )


class StageTooLarge(ValueError):
    """The packed stage passed its limit (``limit``, in bytes of archive); packing stopped there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the packed stage passed {limit} bytes")
        self.limit = limit


class _CappedBuffer(io.BytesIO):
    """The archive in memory, refusing to grow past ``limit`` bytes (StageTooLarge)."""

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.limit = limit
        self.over = False

    def write(self, data: Any) -> int:
        if self.over:  # what closing the stopped archive still writes: dropped
            return len(data)
        written = super().write(data)
        if self.limit is not None and self.tell() > self.limit:
            self.over = True
            raise StageTooLarge(self.limit)
        return written


def pack(stage: Path, limit: int | None = None) -> tuple[bytes, int]:
    """The staging directory as a tar.gz (paths relative to it); the archive and its file count.

    Packing stops (StageTooLarge) as soon as the archive passes ``limit`` bytes, so a
    stage too large to send is never held whole in memory. jobspec's own mark on the
    directory (`STAGE_MARKER`) stays here: it is no staged file.
    """
    import tarfile

    buffer = _CappedBuffer(limit)
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(stage):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = Path(root, name)
                if not (path.is_symlink() or path.is_file() or path.is_dir()):
                    continue  # sockets, fifos: nothing to send
                if name == STAGE_MARKER and Path(root) == stage:
                    continue
                tar.add(path, arcname=str(path.relative_to(stage)), recursive=False)
                count += 0 if path.is_dir() and not path.is_symlink() else 1
    return buffer.getvalue(), count


def size_text(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"
