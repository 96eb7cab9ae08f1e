"""The jobspec as the engine sees it: a thin, read-only view over the loaded data.

The data stays a plain dict (what the user wrote, JSON-ready); this class only
names the parts, and accepts both the single ``task:`` of jobspec 0.0.12 and RFC 25's ``tasks: [..]``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.document.resources import ResourceCounts


class Jobspec:
    """A loaded jobspec: its data, where it came from, and named views of its parts."""

    def __init__(
        self,
        data: dict[str, Any],
        source: str | None = None,
        text: str | None = None,
        path: Path | None = None,
    ) -> None:
        self.data = data
        self.source = source  # shown in messages: the file name, or None
        self.text = text  # kept to find line numbers when there is a problem
        self.path = path
        # copy sources as written -> where a copy was taken in (a spool entry's own files)
        self.taken_in: dict[str, Path] = {}

    def __repr__(self) -> str:
        return f"Jobspec({self.source or '<dict>'})"

    @property
    def task_path(self) -> tuple[str | int, ...]:
        """Where the task is in the document: ``task`` or ``tasks[0]``."""
        return ("task",) if "task" in self.data else ("tasks", 0)

    @property
    def task(self) -> dict[str, Any]:
        task = self.data.get("task")
        if task is None:
            tasks = self.data.get("tasks") or [{}]
            task = tasks[0]
        return task if isinstance(task, dict) else {}

    @property
    def resources(self) -> list[dict[str, Any]]:
        return self.data.get("resources") or []

    @property
    def transform(self) -> list[dict[str, Any]]:
        return self.task.get("transform") or []

    @property
    def implicit_submit(self) -> bool:
        """A plain jobspec (as Flux users, rainbow and the Go library write them) has no
        transform list: it runs the task's command, as Flux would (`engine.plan`)."""
        return "transform" not in self.task

    @cached_property
    def scripts(self) -> dict[str, dict[str, Any]]:
        """Scripts by name."""
        scripts = self.task.get("scripts")
        listed = scripts if isinstance(scripts, list) else []
        return {s["name"]: s for s in listed if isinstance(s, dict) and isinstance(s.get("name"), str)}

    @property
    def command(self) -> list[str] | None:
        command = self.task.get("command")
        if isinstance(command, str):
            return [command]
        return command

    @property
    def system(self) -> dict[str, Any]:
        attributes = self.data.get("attributes") or {}
        return attributes.get("system") or {}

    @property
    def duration(self) -> float | None:
        """The time limit in seconds; None (or 0) means none."""
        duration = self.system.get("duration")
        return float(duration) if duration else None

    @property
    def environment(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in (self.system.get("environment") or {}).items()}

    @property
    def cwd(self) -> str | None:
        return self.system.get("cwd")

    @cached_property
    def counts(self) -> ResourceCounts:
        from jobspec.document.resources import count_resources

        return count_resources(self.resources, self.task.get("slot"), self.task.get("count"))

    @property
    def name(self) -> str:
        """A job name: the user's ``attributes.system.job.name``, else the file's stem."""
        job = self.system.get("job") or {}
        if isinstance(job, dict) and job.get("name"):
            return str(job["name"])
        if self.path is not None:
            return self.path.stem
        return "jobspec"

    @property
    def base_dir(self) -> Path:
        """Relative paths in `copy` steps are taken from here: the file's folder, else cwd."""
        return self.path.resolve().parent if self.path is not None else Path.cwd()
