"""Flux's job shell templates (``{{id}}``, ``{{tmpdir}}``...) kept out of the user's values. Pure.

What flux-core 0.88 renders, and how (src/shell):

- each task command argument that holds ``{{`` (shell.c ``frob_command``);
- output file paths, ``shell.options.output.{stdout,stderr}.path``
  (output/conf.c, output/output.c, output/task.c);
- values listed in the ``env-expand`` shell option (env-expand.c), which
  ``flux submit --env=NAME=VALUE`` fills for any VALUE with ``{{``
  (flux/job/_utils.py ``get_filtered_environment``). ``attributes.system.environment``
  and ``cwd`` are used as written.

The renderer (mustache.c ``mustache_render``) has no escape: every ``{{NAME}}`` is
offered to the tag callbacks (shell.c ``mustache_cb``: id, jobid, name, nnodes,
ntasks, size, taskid, task.*, node.*, then any shell plugin's
``mustache.render.NAME``, e.g. tmpdir.c's ``tmpdir``), and only a name nobody
claims is left as written. So a value that must arrive as written may not hold
``{{`` where the shell renders. Command arguments are encoded (`protect`) and
decoded by the task's own ``/bin/sh`` wrapper (`DECODE_ARGS`); output paths
cannot be, so a staging directory with ``{{`` is refused for output files
(`stage_problem`).
"""

from __future__ import annotations

from collections.abc import Sequence

OPEN = "{{"

# POSIX sh: d() undoes `protect` ("{}" -> "{", left to right); the loop does it to
# every argument in place. It holds no "{{" itself, so the shell leaves it alone.
DECODE_ARGS = (
    "d() { r=; s=$1; while :; do case $s in "
    '*"{}"*) r=$r${s%%"{}"*}"{"; s=${s#*"{}"};; '
    "*) r=$r$s; return;; esac; done; }; "
    'for a do shift; d "$a"; set -- "$@" "$r"; done; '
)


def has_template(text: str) -> bool:
    """Whether Flux's shell would try to render ``text`` (it looks for ``{{``)."""
    return OPEN in text


def protect(text: str) -> str:
    """``text`` with every ``{`` written ``{}``: no ``{{`` is left, and `restore` (or
    `DECODE_ARGS`) gives ``text`` back exactly."""
    return text.replace("{", "{}")


def restore(text: str) -> str:
    """The inverse of `protect`, as `DECODE_ARGS` computes it: ``{}`` to ``{``, left to right."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("{}", i):
            out.append("{")
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def literal_args(args: Sequence[str]) -> tuple[list[str], bool]:
    """``args`` as the task command to submit, and whether they were protected (then
    the task's wrapper must run `DECODE_ARGS`). Untouched when none holds ``{{``."""
    if not any(has_template(a) for a in args):
        return list(args), False
    return [protect(a) for a in args], True


def stage_problem(stage: str) -> str | None:
    """Why the job's output files cannot go into ``stage``, or None: Flux's shell renders
    output paths and has no escape for ``{{``."""
    if has_template(stage):
        return (
            f"the staging directory {stage!r} holds '{{{{', which Flux's job shell reads as a template "
            "in output file names (it has no escape): choose another stage, or watch the job "
            "(watch: true keeps its output in Flux)"
        )
    return None
