"""A batch script's ``# flux:`` directives and the resource limits, as flux batch and flux
submit apply them. The oracles: flux-core's own DirectiveParser and ``flux batch
--dry-run`` (where flux-core is installed), and the resource limits a job really gets."""

from __future__ import annotations

import io
import resource
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flux_install import NOT_FOUND
from flux_support import document, node, slot
from support import make_jobspec

from jobspec import load
from jobspec.document.problems import JobspecError
from jobspec.engine.plan import plan
from jobspec.engine.run import Reporter
from jobspec.transformers.flux import directives, limits
from jobspec.transformers.flux.jobspec_v1 import batch_job, to_jobspec
from jobspec.transformers.flux.transformer import FluxTransformer

FLUX = shutil.which("flux")

SCRIPTS = {
    "plain": "#!/bin/sh\n# flux: -N 2 --queue=batch\n# flux: --job-name 'my job'  # a comment\nhostname\n",
    "prefix": "#!/bin/bash\n##FLUX: -t 5m\n##FLUX: -o cpu-affinity=off\n",
    "case changed": "#!/bin/sh\n# flux: -q a\n# FLUX: -q b\n",
    "blank lines": "#!/bin/sh\n# flux: -q debug\n\n# flux: --setattr=user.tag=7\necho\n",
    "stop": "#!/bin/sh\n# flux: -q a\necho hi\n# not a directive: after the first command\n",
    "triple": "#!/bin/sh\n# flux: --setattr=user.note='''it's \"quoted\"'''\n",
    "none": "#!/bin/sh\necho no directives\n",
    "orphan": "#!/bin/sh\n# flux: -q a\necho hi\n# flux: -q b\n",
    "sentinel changed": "#!/bin/sh\n# flux: -q a\n#flux: -q b\n",
    "unknown": "#!/bin/sh\n# flux: queue a\n",
    "unmatched quote": "#!/bin/sh\n# flux: --job-name 'oops\n",
}
REFUSED = ("orphan", "sentinel changed", "case changed", "unknown", "unmatched quote")


@pytest.mark.flux  # flux-core's own parser is the oracle
@pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_directives_are_read_as_flux_core_reads_them(name: str) -> None:
    from flux.job.directives import DirectiveParser

    script = SCRIPTS[name]
    try:
        theirs = [(d.args, d.lineno) for d in DirectiveParser(io.StringIO(script)).directives if d.action == "SETARGS"]
    except ValueError:
        theirs = None
    try:
        ours = [(d.args, d.line) for d in directives.parse(script)]
    except directives.DirectiveError:
        ours = None
    assert ours == theirs
    assert (ours is None) == (name in REFUSED)


def batch_doc(script: str, **extra: Any) -> Any:
    steps = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", **extra}]
    data = document([node(2, slot(1, 1, label="s"))], steps=steps).data
    data["task"]["scripts"] = [{"name": "b.sh", "content": script}]
    return load(data)


def problems_of(js: Any) -> list[str]:
    try:
        plan(js.data, FluxTransformer())
    except JobspecError as e:
        return [str(p) for p in e.problems]
    return []


def test_directives_set_what_the_document_leaves_unsaid() -> None:
    script = (
        "#!/bin/sh\n# flux: -N2 -n 2 -c1 --job-name=nightly -t 10 --queue batch -B acct\n"
        "# flux: -o cpu-affinity=per-task -o verbose --setattr=user.tag=7 -S foo.bar='[1]'\n"
        "# flux: --env=GREETING=hi --env-remove=SECRET_* --rlimit=core=0 --dependency=afterany:f1\n"
        "# flux: --output=out.txt -l\nhostname\n"
    )
    js = batch_doc(script)
    job = batch_job(js, script, stage="/st", filename="b.sh")
    spec = to_jobspec(job, {"SECRET_KEY": "x", "HOME": "/h"}, limits.propagated(job.rlimit_rules))
    system = spec["attributes"]["system"]
    assert system["job"]["name"] == "nightly" and system["duration"] == 600.0
    assert (system["queue"], system["bank"], system["foo"]) == ("batch", "acct", {"bar": [1]})
    assert spec["attributes"]["user"]["tag"] == 7
    options = system["shell"]["options"]
    assert options["cpu-affinity"] == "per-task" and options["verbose"] == 1
    assert options["rlimit"]["core"] == 0
    assert options["output"]["stdout"] == {"type": "file", "path": "out.txt", "label": True}
    assert system["environment"]["GREETING"] == "hi" and "SECRET_KEY" not in system["environment"]
    assert {"scheme": "afterany", "value": "f1"} in system["dependencies"]
    assert problems_of(js) == []


@pytest.mark.parametrize(
    ("directive", "message"),
    [
        ("-N 3", "--nodes 3 disagrees with the document's 2"),
        ("-c 4", "--cores-per-slot 4 disagrees with the document's 1"),
        ("-x", "--exclusive True disagrees with the document's False"),
        ("--urgency=0", "--urgency: not carried to Flux by jobspec"),
        ("--requires=host:a", "attributes.system.constraints"),
        ("--bogus", "--bogus: not a flux batch option"),
        ("--e=1", "--e is ambiguous"),
    ],
)
def test_directives_the_document_contradicts_or_jobspec_cannot_carry_are_refused(directive: str, message: str) -> None:
    found = problems_of(batch_doc(f"#!/bin/sh\n# flux: -q a\n# flux: {directive}\ntrue\n"))
    assert len(found) == 1 and message in found[0] and "line 3 of b.sh" in found[0], found
    assert "task.scripts[0].content" in found[0]


def test_output_directive_and_watch_are_refused_together() -> None:
    found = problems_of(batch_doc("#!/bin/sh\n# flux: --output=o.txt\n", watch=True))
    assert len(found) == 1 and "watches the job" in found[0]


def test_a_named_job_keeps_its_name_when_the_directive_agrees() -> None:
    js = batch_doc("#!/bin/sh\n# flux: --job-name=x\n")
    js.data.setdefault("attributes", {}).setdefault("system", {})["job"] = {"name": "y"}
    assert "--job-name 'x' disagrees with the document's 'y'" in problems_of(load(js.data))[0]


def test_rlimit_rules_as_flux_core_applies_them() -> None:
    here = limits.current()
    default = limits.propagated()
    assert set(default) == set(here) - set(limits.NOT_PROPAGATED)
    assert limits.propagated(["-*", "core=16"]) == {"core": 16}
    assert limits.propagated(["-*,stack=unlimited"]) == {"stack": resource.RLIM_INFINITY}
    assert limits.propagated(["-*", "nofile"]) == {"nofile": here["nofile"]}
    assert limits.rule_problem("bogus=1") and limits.rule_problem("core=many") and not limits.rule_problem("-*")


# ---------------------------------------------------------------- on real Flux


@pytest.mark.flux
@pytest.mark.slow
@pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)
def test_flux_batch_dry_run_builds_the_same_job(instance: dict[str, Any], tmp_path: Path) -> None:
    """The script with its directives given to ``flux batch --dry-run`` and to jobspec: the same job."""
    assert FLUX is not None
    script = (
        "#!/bin/sh\n# flux: -N 2 -n 2 --job-name=nightly -t 10 --queue=batch -o verbose=2\n"
        "# flux: --setattr=user.tag=7 --env=GREETING=hi --rlimit=-*,core=0\nhostname\n"
    )
    (tmp_path / "b.sh").write_text(script)
    done = subprocess.run(
        [FLUX, "batch", "--dry-run", str(tmp_path / "b.sh")], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    import json
    import os

    theirs = json.loads(done.stdout)
    job = batch_job(batch_doc(script), script, stage=str(tmp_path), filename="b.sh")
    ours = to_jobspec(job, dict(os.environ), limits.propagated(job.rlimit_rules))
    mine, flux_says = ours["attributes"]["system"], theirs["attributes"]["system"]
    for key in ("duration", "queue", "job"):
        assert mine[key] == flux_says[key], key
    assert ours["attributes"]["user"]["tag"] == theirs["attributes"]["user"]["tag"] == 7
    for key in ("verbose", "rlimit"):
        assert mine["shell"]["options"][key] == flux_says["shell"]["options"][key], key
    assert mine["environment"]["GREETING"] == flux_says["environment"]["GREETING"] == "hi"


@pytest.mark.flux
@pytest.mark.slow
@pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)
@pytest.mark.parametrize("kind", ["submit", "batch"])
def test_resource_limits_reach_the_job(kind: str, instance: dict[str, Any], tmp_path: Path) -> None:
    """The submitting process's soft limit (lowered here) is the job's, as with flux submit;
    a batch script's ``--rlimit`` directive sets one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(soft, 1000) - 7
    body = 'echo "nofile $(ulimit -n) stack $(ulimit -s)"'
    directive = "# flux: --rlimit=stack=4194304" if kind == "batch" else ""
    stack = resource.getrlimit(resource.RLIMIT_STACK)[0]
    expected_stack = "4096" if kind == "batch" else ("unlimited" if stack < 0 else str(stack // 1024))
    text = (
        "version: 1\nresources:\n- {type: node, count: 1, with: [{type: slot, label: s, count: 1, "
        "with: [{type: core, count: 1}]}]}\ntask:\n  slot: s\n  count: {per_slot: 1}\n  transform:\n"
        f"  - {{step: write, filename: j.sh}}\n  - {{step: {kind}, filename: j.sh, wait: true}}\n"
        f"  scripts:\n  - name: j.sh\n    content: |\n      #!/bin/bash\n      {directive}\n      {body}\n"
    )
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        result = FluxTransformer().run(
            make_jobspec(tmp_path, text), reporter=Reporter(stream=io.StringIO(), output=io.StringIO())
        )
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert result.ok, result.error
    step = next(s for s in result.steps if s.job_id)
    nofile, stack_seen = Path(step.details["stdout"]).read_text().split()[1::2]
    assert stack_seen == expected_stack
    if kind == "submit":  # (a batch job's broker raises its own open-files limit, as Flux's does)
        assert nofile == str(lowered)
