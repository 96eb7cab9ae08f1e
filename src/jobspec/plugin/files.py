"""The steps that put files into the staging directory: write and copy."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import Problem
from jobspec.plugin.errors import StepError
from jobspec.plugin.steps import Field, StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.plugin.context import StepContext


class WriterStep(StepBase):
    """Write a script from ``task.scripts`` into the staging directory."""

    name = "write"
    description = "write task.scripts[filename] into the staging directory"
    fields = {
        "filename": Field(str, required=True, script=True, in_stage=True, help="a script's name"),
        "executable": Field(bool, help="set the run bits (default: false)"),
    }

    @property
    def target(self) -> str:
        return str(self.options["filename"])

    def describe(self, ctx: StepContext) -> str:
        mode = " (executable)" if self.get("executable") else ""
        return f"would write {ctx.describe_path(self.target)}{mode}"

    def artifact(self, ctx: StepContext) -> str | None:
        return str(self.scripts[self.target]["content"])

    def run(self, ctx: StepContext) -> StepOutput:
        path = ctx.stage_path(self.target)
        if "/" in self.target.strip("/"):  # a file right in the stage needs no folder made
            path.parent.mkdir(parents=True, exist_ok=True)
        data = str(self.scripts[self.target]["content"]).encode("utf-8")
        try:
            # O_NOFOLLOW: never write through a symlink placed at the target
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise StepError(f"cannot write {path}: {e.strerror}") from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, 0o755 if self.get("executable") else 0o644)  # whatever the umask
        finally:
            os.close(fd)
        return StepOutput(self.target, details={"path": str(path)})


class CopyStep(StepBase):
    """Copy a local file or directory into the staging directory."""

    name = "copy"
    description = "copy a local file or directory into the staging directory"
    fields = {
        "source": Field(str, required=True, help="a local file or directory (relative to the jobspec's folder)"),
        "destination": Field(str, in_stage=True, help="where in the staging directory (default: the source's name)"),
    }

    @property
    def source(self) -> Path:
        written = str(self.options["source"])
        taken = self.jobspec.taken_in.get(written)  # a spool entry carries its own copy
        return taken if taken is not None else self.jobspec.base_dir / os.path.expanduser(written)

    @property
    def destination(self) -> str:
        return str(self.get("destination") or self.source.name)

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        if not self.source.exists():
            yield Problem(f"no such file or directory: {self.source}", path=(*self.path, "source"))

    def describe(self, ctx: StepContext) -> str:
        return f"would copy {self.source} to {ctx.describe_path(self.destination)}"

    def run(self, ctx: StepContext) -> StepOutput:
        target = ctx.stage_path(self.destination)
        try:
            if self.source.is_dir():
                count = copy_folder(self.source, target)
            else:
                if target.is_dir() and not target.is_symlink():
                    target = target / self.source.name  # into an existing folder, as cp does
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                count = copy_file(self.source, target)
        except OSError as e:
            why = f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}"
            raise StepError(f"cannot copy {self.source} to {target}: {why}") from None
        except ValueError as e:
            raise StepError(f"cannot copy {self.source}: {e}") from None
        return StepOutput(self.destination, details={"source": str(self.source), "path": str(target), "files": count})


def copy_file(source: Path, target: Path) -> int:
    """Copy one file's bytes and mode; never through a link at ``target`` (refused: ELOOP)."""
    import shutil

    with open(source, "rb") as src:
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ValueError(f"{target} is a symbolic link in the staging directory: not written through") from None
            raise
        with os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst)
            os.fchmod(dst.fileno(), os.stat(source).st_mode & 0o7777)
    return 1


def copy_folder(source: Path, target: Path) -> int:
    """Copy a folder's tree into ``target``. A link inside it that leads out of it is refused
    (ValueError: its content is not read); one to a file inside it is copied as that file;
    nothing is written through a link already in the staging directory."""
    root = source.resolve()
    count = 0
    for folder, dirs, files in os.walk(source):
        here = Path(folder)
        into = target / here.relative_to(source)
        if into.is_symlink():
            raise ValueError(f"{into} is a symbolic link in the staging directory: jobspec does not write through it")
        into.mkdir(mode=0o700, exist_ok=True)
        for name in sorted(dirs):
            if (here / name).is_symlink():
                raise ValueError(f"{here / name} is a link to a folder: copy the folder it names instead")
        for name in sorted(files):
            path = here / name
            real = path.resolve()
            if path.is_symlink() and not real.is_relative_to(root):
                raise ValueError(f"{path} is a link that leads out of {source} (to {real}): not copied")
            count += copy_file(real, into / name)
    return count
