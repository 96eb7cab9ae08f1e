"""``flux batch``'s options (``# flux:`` directives and the command line) into a `Request`.

The table is ``flux batch``'s own (flux/cli/base.py and batch.py): ``-N`` nodes, ``-n``
slots (one task each here), ``-c`` cores and ``-g`` GPUs per slot, ``-x`` exclusive,
``-t`` the time limit (minutes, or a duration with a unit), ``--job-name``, ``--cwd``,
``--env``, ``--output``/``--error``, ``-q`` the queue, ``-B`` the bank.
"""

from __future__ import annotations

from jobspec.importing.lines import Word
from jobspec.importing.options import read, table
from jobspec.importing.request import DROPPED, KEPT, MAPPED, WARNING, Request
from jobspec.importing.sbatch import positive
from jobspec.importing.times import FSD_FORMS, flux_seconds

SPECS = table(
    """
    nodes:r:N nslots:r:n cores-per-slot:r:c gpus-per-slot:r:g exclusive:n:x time-limit:r:t bank:r:B
    queue:r:q urgency:r job-name:r setopt:r:o setattr:r:S add-file:r dependency:r requires:r
    begin-time:r env:r env-remove:r env-file:r rlimit:r input:r output:r error:r unbuffered:n:u
    label-io:n:l cwd:r flags:r signal:r dry-run:n quiet:n conf:r broker-opts:r dump:o verbose:n:v
    cc:r bcc:r wait-event:r wait:n watch:n log:r log-stderr:r progress:n jps:n
    """
)
FIELDS = {"nodes": "nodes", "nslots": "ntasks", "cores-per-slot": "cpus_per_task", "gpus-per-slot": "gpus_per_task"}


def apply_flux(req: Request, words: list[Word]) -> None:
    for found in read(words, SPECS, "flux batch"):
        name = found.spec.name if found.spec else ""
        value = found.value or ""
        shown = found.written + (f"={value}" if found.value is not None else "")
        word = found.word
        if found.spec is None:
            req.note(WARNING, shown, "not a flux batch option: ignored", word)
        elif name in FIELDS:
            req.set(FIELDS[name], positive(req, found, value), word)
            if name == "gpus-per-slot":
                req.gpu_spelling.append(f"--gpus-per-task={value}")
            req.note(MAPPED, shown, FIELDS[name].replace("_", " "), word)
        elif name == "exclusive":
            req.set("exclusive", True, word)
            req.note(MAPPED, shown, "exclusive nodes", word)
        elif name == "time-limit":
            try:
                seconds = flux_seconds(value)
            except ValueError:
                raise req.error(f"{found.written} takes {FSD_FORMS}; not {value!r}", word) from None
            req.set("duration", seconds, word)
            req.note(MAPPED, shown, f"duration {seconds:g} s" if seconds else "no time limit", word)
        elif name == "job-name":
            req.set("name", value, word)
            req.note(MAPPED, shown, "attributes.system.job.name", word)
        elif name == "cwd":
            req.set("cwd", value, word)
            req.note(MAPPED, shown, "attributes.system.cwd", word)
        elif name == "env":
            var, eq, val = value.partition("=")
            if eq and "*" not in var and not var.startswith("-"):
                req.environment[var] = val
                req.note(MAPPED, shown, "environment", word)
            else:
                req.note(DROPPED, shown, "environment filters have no portable meaning", word)
        elif name == "queue":
            req.set("partition", value, word)
            req.note(KEPT, shown, "setting slurm.partition (the queue)", word)
        elif name == "bank":
            req.set("account", value, word)
            req.note(KEPT, shown, "setting slurm.account (the bank)", word)
        elif name in ("output", "error"):
            req.note(DROPPED, shown, "flux's output templates ({{id}}) differ from Slurm's", word)
        else:
            req.note(DROPPED, shown, "no portable meaning", word)
