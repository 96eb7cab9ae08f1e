"""write and copy on Kubernetes: files go into the run's ConfigMap, not onto this machine.

The ConfigMap is created, or grown, right before the first Job that mounts it (see
`steps.KubeJobStep`); each Job mounts it read-only at the staging path with the
files' modes. ``plan_files`` does the same at plan time without reading more than
the ConfigMap can hold, so a run that would not fit fails before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from jobspec.plugin import CopyStep, StepError, StepOutput, WriterStep, outside_reason
from jobspec.transformers.kubernetes import manifests as mf
from jobspec.transformers.kubernetes.state import kube_run, pod_stage

if TYPE_CHECKING:
    from jobspec.plugin import StepContext


def file_mode(executable: bool) -> int:
    return 0o755 if executable else 0o644


def copied_files(source: Path, destination: str) -> Iterator[tuple[str, Path, int]]:
    """(path in the stage, local file, mode) for a copy step, directories walked in order."""
    if not source.is_dir():
        yield destination, source, file_mode(bool(source.stat().st_mode & 0o111))
        return
    seen: set[str] = set()
    for root, dirs, files in os.walk(source, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symbolic link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            local = Path(root, name)
            relative = local.relative_to(source).as_posix()
            if not local.is_file():
                continue  # a socket, a fifo, a dangling link: nothing a ConfigMap can hold
            yield str(PurePosixPath(destination, relative)), local, file_mode(bool(local.stat().st_mode & 0o111))


def _refuse_over_limit(ctx: StepContext) -> None:
    problem = kube_run(ctx).files.limit_problem()
    if problem:
        raise StepError(problem)


class KubeWrite(WriterStep):
    """write: the script goes into the run's ConfigMap."""

    def _content(self) -> bytes:
        return str(self.scripts[self.target]["content"]).encode("utf-8")

    def _put(self, ctx: StepContext) -> mf.StagedFile:
        return kube_run(ctx).files.put(self.target, self._content(), file_mode(bool(self.get("executable"))))

    def plan_files(self, files: mf.FileSet) -> list[str]:
        """Add the script to ``files`` (the ConfigMap as planned); the problems found."""
        reason = mf.path_problem(self.target)
        if reason:
            return [reason]
        files.put(self.target, self._content(), file_mode(bool(self.get("executable"))))
        return []

    def describe(self, ctx: StepContext) -> str:
        staged = self._put(ctx)
        return (
            f"would put {staged.path} ({len(staged.data)} bytes, mode {staged.mode:04o}) in ConfigMap "
            f"{kube_run(ctx).names.run} (key {staged.key}), mounted at {PurePosixPath(pod_stage(ctx.settings))}"
        )

    def artifact(self, ctx: StepContext) -> str | None:
        return None  # the ConfigMap in the submit step's manifests carries it

    def run(self, ctx: StepContext) -> StepOutput:
        staged = self._put(ctx)
        _refuse_over_limit(ctx)
        config_map = kube_run(ctx).names.run
        return StepOutput(
            f"{staged.path} -> ConfigMap {config_map}",
            details={"config_map": config_map, "key": staged.key, "mode": f"{staged.mode:04o}"},
        )


class KubeCopy(CopyStep):
    """copy: the local file, or every file under the local directory, goes into the ConfigMap."""

    def _put(self, ctx: StepContext) -> list[mf.StagedFile]:
        run = kube_run(ctx)
        staged = []
        try:
            for path, local, mode in copied_files(self.source, self.destination):
                reason = outside_reason(path) or mf.path_problem(path)
                if reason:
                    raise StepError(f"cannot copy {local}: {reason}")
                staged.append(run.files.put(path, local.read_bytes(), mode))
        except OSError as e:
            raise StepError(f"cannot copy {self.source}: {e.strerror or e}") from None
        return staged

    def plan_files(self, files: mf.FileSet) -> list[str]:
        """Add what would be copied to ``files`` (the ConfigMap as planned); the problems
        found. Reads a file only while the total stays under the ConfigMap's limit."""
        if not self.source.exists():
            return []  # the copy step's own check says so
        problems: list[str] = []
        try:
            for path, local, mode in copied_files(self.source, self.destination):
                reason = outside_reason(path) or mf.path_problem(path)
                if reason:
                    problems.append(f"cannot copy {local}: {reason}")
                    continue
                if files.size() + local.stat().st_size > mf.CONFIG_MAP_LIMIT:
                    files.put(path, b"\0" * (mf.CONFIG_MAP_LIMIT + 1), mode)  # over: no need to read it
                    break
                files.put(path, local.read_bytes(), mode)
        except OSError as e:
            problems.append(f"cannot read {self.source}: {e.strerror or e}")
        return problems

    def describe(self, ctx: StepContext) -> str:
        staged = self._put(ctx)
        size = sum(len(f.data) for f in staged)
        what = staged[0].path if len(staged) == 1 else f"{len(staged)} files under {self.destination}/"
        return f"would put {what} ({size} bytes) from {self.source} in ConfigMap {kube_run(ctx).names.run}"

    def run(self, ctx: StepContext) -> StepOutput:
        staged = self._put(ctx)
        _refuse_over_limit(ctx)
        config_map = kube_run(ctx).names.run
        return StepOutput(
            f"{self.destination} -> ConfigMap {config_map}",
            details={"source": str(self.source), "config_map": config_map, "files": {f.path: f.key for f in staged}},
        )
