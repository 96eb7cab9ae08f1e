"""What the import tests share: a script from its lines, and the import of it, validated."""

from __future__ import annotations

from typing import Any

import jobspec
from jobspec.importing import Imported, import_script


def script(*lines: str, shebang: str = "#!/bin/bash") -> str:
    return "\n".join([shebang, *lines]) + "\n"


def imported(text: str, *argv: str, source: str = "job.sh") -> Imported:
    """The import of ``text``; its document must be a valid jobspec."""
    result = import_script(text, source, list(argv))
    jobspec.load(result.document)
    return result


def counts(text: str, *argv: str) -> dict[str, Any]:
    """What the imported graph asks for, counted by jobspec itself."""
    result = imported(text, *argv)
    js = jobspec.load(result.document)
    c = js.counts
    return {
        "nodes": c.nodes,
        "tasks": c.tasks,
        "cpus": c.cores_per_task,
        "gpus": c.gpus_per_task,
        "exclusive": c.exclusive,
        "duration": js.duration,
    }


def setting(result: Imported, key: str) -> Any:
    for step in result.document["task"]["transform"]:
        if step["step"] == "set" and step["key"] == key:
            return step["value"]
    return None


def body(result: Imported) -> str:
    return str(result.document["task"]["scripts"][0]["content"])
