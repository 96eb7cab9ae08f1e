"""The Kubernetes transformer against a real cluster: every example end to end, the logs,
cancel, literal values. Marked ``kubernetes``; skipped, with the reason, unless
KUBECONFIG is set and its server answers. Each run's Jobs and ConfigMap are deleted
afterwards (by their ``jobspec/run`` label).

Set JOBSPEC_K8S_TIMEOUT (seconds, default 600) for slow clusters. The examples ask for
what they say (the original 0.0.12 ones: 4 pods of 4 cpus; their batch: one pod of
16): a cluster that cannot fit them leaves the pods unschedulable, and the test says so.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_support import EXPECTED, PROJECT_EXAMPLES, SEED_EXAMPLES

from jobspec.engine.result import RunResult
from jobspec.engine.run import Reporter
from jobspec.plugin import JobLookupError
from jobspec.transformers.kubernetes.manifests import LABEL_RUN
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer

REASON = "no reachable Kubernetes API server (KUBECONFIG unset or not answering)"
TIMEOUT = float(os.environ.get("JOBSPEC_K8S_TIMEOUT", "600"))


def _reachable() -> str | None:
    """None when a cluster answers, else why not."""
    if not os.environ.get("KUBECONFIG"):
        return REASON
    try:
        from jobspec.transformers.kubernetes.client import connect

        session = connect()
        session.check()
    except Exception as e:
        return f"{REASON}: {e}"
    return None


_WHY_NOT = _reachable()
pytestmark = [pytest.mark.kubernetes, pytest.mark.skipif(_WHY_NOT is not None, reason=_WHY_NOT or "")]


@pytest.fixture
def runs() -> Iterator[list[RunResult]]:
    """Results whose Jobs and ConfigMaps are deleted after the test."""
    results: list[RunResult] = []
    yield results
    from jobspec.transformers.kubernetes.client import connect

    session = connect()
    for result in results:
        for the_id in result.job_ids:
            namespace, name = the_id[len("k8s:") :].split("/")
            session.delete_job(namespace, name, "Background")
        for step in result.steps:
            run_label = (step.details.get("labels") or {}).get(LABEL_RUN)
            if run_label and step.details.get("config_map"):
                try:  # the ConfigMap is named after the run
                    session.core.delete_namespaced_config_map(run_label, step.details["namespace"])
                except Exception as e:
                    if getattr(e, "status", None) != 404:
                        raise
                break


def run(source: Any, runs: list[RunResult], out: io.StringIO | None = None) -> RunResult:
    steps = io.StringIO()
    result = KubernetesTransformer().run(source, reporter=Reporter(stream=steps, output=out or io.StringIO()))
    runs.append(result)
    return result


@pytest.mark.parametrize(
    "path", SEED_EXAMPLES + PROJECT_EXAMPLES, ids=[p.name for p in SEED_EXAMPLES + PROJECT_EXAMPLES]
)
def test_every_example_end_to_end(path: Path, runs: list[RunResult]) -> None:
    result = run(path, runs)
    transformer = KubernetesTransformer()
    states = []
    for the_id in result.job_ids:
        status = transformer.wait(the_id, timeout=TIMEOUT)
        assert status.done, f"{the_id} still {status.state} after {TIMEOUT:g} s (unschedulable? see kubectl describe)"
        states.append(status.state)
    assert states == EXPECTED[path.name], result.error


def test_watch_streams_the_logs(runs: list[RunResult]) -> None:
    out = io.StringIO()
    result = run(next(p for p in PROJECT_EXAMPLES if p.name == "hello-world.yaml"), runs, out)
    assert result.ok, result.error
    assert sorted(line.split(" on ")[0] for line in out.getvalue().splitlines()) == [
        f"hello from task {i} of 4" for i in range(4)
    ]


def test_literal_values_reach_the_pod(runs: list[RunResult]) -> None:
    weird = 'it\'s "quoted" $(whoami) ${HOME} $$ `date`\nnew line ünïcødé ✓ $'
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "command": ["printf", "%s|%s", weird, "$(WEIRD)"],
            "transform": [{"step": "submit", "watch": True}],
        },
        "attributes": {"system": {"environment": {"WEIRD": weird}}},
    }
    out = io.StringIO()
    result = run(data, runs, out)
    assert result.ok, result.error
    assert out.getvalue().rstrip("\n") == f"{weird}|$(WEIRD)"


def test_cancel_deletes_the_job_and_its_pods(runs: list[RunResult]) -> None:
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 2, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "command": ["sleep", "300"],
            "transform": [{"step": "submit"}],
        },
    }
    result = run(data, runs)
    (the_id,) = result.job_ids
    transformer = KubernetesTransformer()
    assert transformer.status(the_id).state in ("pending", "running")
    assert transformer.cancel(the_id).state == "cancelled"
    with pytest.raises(JobLookupError):
        transformer.status(the_id)
