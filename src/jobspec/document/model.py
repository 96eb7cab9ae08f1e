"""The jobspec as the engine sees it: a thin, read-only view over the loaded data.

The data stays a plain dict (what the user wrote, JSON-ready); this class only
names the parts, and accepts both the single ``task:`` of jobspec 0.0.12 and RFC 25's ``tasks: [..]``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.document.problems import DocPath, Problem
    from jobspec.document.resources import ResourceCounts

# The fields a submit or batch step may carry to describe a job of its own (a lowered
# next-generation task or group): they stand in for the document's, for that job only.
JOB_FIELDS = ("resources", "slot", "count", "command", "attributes")


def is_nextgen(data: dict[str, Any]) -> bool:
    """True for the next-generation form: told by shape, never by a version number
    (both forms say ``version: 1``). Named resources (a mapping), ``groups`` or named
    ``requires`` say so; so do ``tasks`` without a v1 ``slot``, when no graph is given."""
    resources = data.get("resources")
    if isinstance(resources, dict) or "groups" in data or isinstance(data.get("requires"), dict):
        return True
    if resources is None and "task" not in data and isinstance(data.get("tasks"), list):
        return not any(isinstance(t, dict) and "slot" in t for t in data["tasks"])
    return False


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
        self.form = "v1"  # or "nextgen": lowered from the next-generation form (see `from_data`)
        self.original: dict[str, Any] | None = None  # the next-generation document as written
        self.origins: dict[int, DocPath] = {}  # a lowered step's index -> its place in `original`
        self.early_problems: list[Problem] = []  # found before lowering (reported by validate)

    @classmethod
    def from_data(
        cls, data: dict[str, Any], source: str | None = None, text: str | None = None, path: Path | None = None
    ) -> Jobspec:
        """A jobspec of either form: a next-generation document is checked and lowered into
        the v1 model here (when it has problems, it stays as written and they are kept)."""
        if not is_nextgen(data):
            return cls(data, source, text, path)
        from jobspec.document.nextgen import problems
        from jobspec.document.nextgen_lower import lower

        found = problems(data)
        if found:
            jobspec = cls(data, source, text, path)
            jobspec.early_problems = found
        else:
            lowered = lower(data, source)
            jobspec = cls(lowered.data, source, text, path)
            jobspec.origins = lowered.origins
        jobspec.form = "nextgen"
        jobspec.original = data
        return jobspec

    def job_view(self, options: dict[str, Any]) -> Jobspec:
        """This jobspec as one job step sees it: the step's own resources, slot, count,
        command and attributes (`JOB_FIELDS`) in place of the document's. Self when it has none."""
        own = {key: options[key] for key in JOB_FIELDS if key in options}
        if not own:
            return self
        data = dict(self.data)
        task = dict(self.task)
        for key in ("slot", "count", "command"):
            if key in own:
                task[key] = own[key]
        if "resources" in own:
            data["resources"] = own["resources"]
        if "attributes" in own:
            data["attributes"] = own["attributes"]
        system = (data.get("attributes") or {}).get("system") or {}
        if options.get("name") and not (system.get("job") or {}).get("name"):
            # a job of its own is called by its step's name, where nothing else names it
            attributes = dict(data.get("attributes") or {})
            attributes["system"] = {**system, "job": {**(system.get("job") or {}), "name": str(options["name"])}}
            data["attributes"] = attributes
        if "task" in data:
            data["task"] = task
        else:
            data["tasks"] = [task]
        view = type(self)(data, self.source, self.text, self.path)
        view.form, view.original, view.origins = self.form, self.original, self.origins
        view.taken_in = self.taken_in
        return view

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
            tasks = self.data.get("tasks")
            task = tasks[0] if isinstance(tasks, list) and tasks else {}  # a damaged list: the schema says so
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
