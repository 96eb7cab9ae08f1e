"""A batch script into a jobspec: find its directives, read them, write the document.

Pure: text in, a document (a dict) and a report out. `import_script` is the whole of it;
the command (`jobspec import`) only reads the file and prints.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobspec.document.problems import JobspecError, Problem
from jobspec.importing.flux import apply_flux
from jobspec.importing.launch import JobShape, Rewrite, rewrite_body
from jobspec.importing.lines import DirectiveSyntaxError, Word, command_line_words, flux_words, sbatch_words
from jobspec.importing.options import NotAnOption
from jobspec.importing.pbs import apply_pbs
from jobspec.importing.request import (
    DROPPED,
    KEPT,
    MAPPED,
    SLOT,
    WARNING,
    Item,
    Layout,
    Request,
    constraints,
    graph,
    layout,
)
from jobspec.importing.sbatch import apply_sbatch

SCHEDULERS = ("slurm", "pbs", "flux")
READERS = {"slurm": apply_sbatch, "pbs": apply_pbs, "flux": apply_flux}
MARK = "# [imported] "  # put before a directive kept in the body, so no scheduler reads it again


@dataclass
class Imported:
    """The jobspec made from a script, the shape it asks for, and the report."""

    document: dict[str, Any]
    shape: Layout
    request: Request
    launches: list[Rewrite]

    @property
    def items(self) -> list[Item]:
        return self.request.items

    def dropped(self) -> list[Item]:
        return [i for i in self.items if i.kind == DROPPED]

    def report(self) -> str:
        lines = [str(item) for item in self.items]
        for launch in self.launches:
            where = f"{self.request.source}:{launch.line}"
            if launch.after is None:
                lines.append(f"{where}: kept as written: launch line ({launch.why}): {launch.before.strip()}")
            else:
                lines.append(f"{where}: mapped: launch line -> {launch.after.strip()}")
        return "\n".join(lines)


def detect(text: str) -> str:
    """Whose directives the script has: slurm, pbs, flux, or none."""
    for kind, magic in (("slurm", ("#SBATCH", "#SLURM")), ("pbs", ("#PBS",))):
        try:
            if sbatch_words(text, magic)[0]:
                return kind
        except DirectiveSyntaxError:
            return kind
    try:
        return "flux" if flux_words(text) else "none"
    except DirectiveSyntaxError:
        return "flux"


def import_script(
    text: str, source: str = "<stdin>", argv: Sequence[str] = (), scheduler: str | None = None
) -> Imported:
    """The jobspec of a batch script (``argv``: the sbatch/qsub/flux batch options given after
    the file, which override its directives). JobspecError (with line and column) for bad input."""
    if "\0" in text:
        raise JobspecError(Problem("not a text file (it holds NUL bytes): not a batch script", source=source))
    kind = scheduler or detect(text)
    req = Request(source, kind)
    try:
        if kind == "slurm":
            words, _ = sbatch_words(text)
            if sbatch_words(text, ("#PBS", "#BSUB"))[0]:
                req.items.append(
                    Item(
                        WARNING,
                        "#PBS",
                        "the script also has #PBS lines, which sbatch applies too: not imported",
                        source,
                    )
                )
        elif kind == "pbs":
            words, _ = sbatch_words(text, ("#PBS",))
        elif kind == "flux":
            words = flux_words(text)
        else:
            words = []
    except DirectiveSyntaxError as e:
        raise JobspecError(Problem(str(e), source=source, line=e.line, column=e.column)) from None
    reader = READERS.get(kind, apply_sbatch)
    cli = command_line_words(list(argv))
    for group in (words, cli):
        try:
            reader(req, group)
        except NotAnOption as e:
            raise req.error(str(e), e.word) from None
    shape = layout(req)
    body = neutralise(text, kind)
    if not body.startswith("#!"):
        body = "#!/bin/bash\n" + body
        req.items.append(Item(MAPPED, "(no #! line)", "the script runs with /bin/bash", source))
    body, launches = rewrite_body(body, JobShape(shape.nodes, shape.tasks, shape.cpus_per_task, shape.gpus_per_task))
    body = _array_variables(body, req)
    return Imported(document(req, shape, body), shape, req, launches)


# A job array element's index, as each scheduler names it, and how jobspec names it everywhere
_INDEX_NAMES = "SLURM_ARRAY_TASK_ID|PBS_ARRAYID|PBS_ARRAY_INDEX"
ARRAY_INDEX = re.compile(rf"\$(?:\{{({_INDEX_NAMES})\}}|({_INDEX_NAMES})\b)")


def _array_variables(body: str, req: Request) -> str:
    """The scheduler's array index variables in the body, as JOBSPEC_ARRAY_INDEX (reported)."""
    lines = body.split("\n")
    for number, line in enumerate(lines, 1):
        if line.startswith(MARK) or not ARRAY_INDEX.search(line):
            continue
        lines[number - 1] = ARRAY_INDEX.sub("${JOBSPEC_ARRAY_INDEX}", line)
        req.items.append(Item(MAPPED, "array index", "-> ${JOBSPEC_ARRAY_INDEX}", f"{req.source}:{number}"))
    return "\n".join(lines)


def neutralise(text: str, kind: str) -> str:
    """The script with its directives marked (`MARK`), so that neither sbatch nor flux reads
    them again: the jobspec says the job now, and the options would otherwise pile up."""
    magic = {"slurm": ("#SBATCH", "#SLURM", "#PBS", "#BSUB"), "pbs": ("#PBS", "#SBATCH", "#SLURM")}.get(
        kind, ("#SBATCH", "#SLURM", "#PBS")
    )
    out = []
    in_header = True
    for line in text.split("\n"):
        if in_header and line.lstrip() and not line.lstrip().startswith("#"):
            in_header = False
        directive = line.startswith(magic) or (kind == "flux" and in_header and _flux_line(line))
        out.append(MARK + line if directive and (in_header or line.startswith(("#PBS", "#BSUB"))) else line)
    return "\n".join(out)


def _flux_line(line: str) -> bool:
    return bool(re.match(r"^[^\w]*(?:flux|FLUX):", line))


def script_name(source: str) -> str:
    """The batch script's name in the stage: the file's own when it is a plain name."""
    base = posixpath.basename(source)
    return base if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", base) else "job.sh"


def document(req: Request, shape: Layout, body: str) -> dict[str, Any]:
    resources, count = graph(shape)
    qualify = constraints(req, shape)  # before the options: a --nodelist it cannot place stays one
    name = script_name(req.source)
    transform: list[dict[str, Any]] = []
    for key, value in (("slurm.partition", req.partition), ("slurm.account", req.account), ("slurm.qos", req.qos)):
        if value:
            transform.append({"step": "set", "key": key, "value": value})
    if req.slurm_options:
        transform.append({"step": "set", "key": "slurm.options", "value": list(req.slurm_options)})
    batch: dict[str, Any] = {"step": "batch", "filename": name}
    if req.array is not None:
        batch["array"] = req.array
    transform += [{"step": "write", "filename": name, "executable": True}, batch]
    system: dict[str, Any] = {}
    if shape_duration(req) is not None:
        system["duration"] = shape_duration(req)
    if req.cwd:
        system["cwd"] = req.cwd
    if req.environment:
        system["environment"] = dict(req.environment)
    if req.name:
        system["job"] = {"name": req.name}
    if qualify:
        system["constraints"] = qualify
    out: dict[str, Any] = {
        "version": 1,
        "resources": resources,
        "task": {
            "slot": SLOT,
            "count": count,
            "transform": transform,
            "scripts": [{"name": name, "content": body}],
        },
    }
    if system:
        out["attributes"] = {"system": system}
    return out


def shape_duration(req: Request) -> float | None:
    if req.duration is None:
        return None
    return int(req.duration) if float(req.duration).is_integer() else req.duration


def strict_problems(imported: Imported) -> list[Problem]:
    """Under ``--strict``, every drop is an error."""
    return [Problem(f"dropped {i.what}: {i.detail} (--strict)", source=i.where) for i in imported.dropped()]


__all__ = ["DROPPED", "KEPT", "MAPPED", "SCHEDULERS", "WARNING", "Imported", "Word", "import_script"]
