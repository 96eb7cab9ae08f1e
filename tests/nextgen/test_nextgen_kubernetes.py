"""The next-generation form on Kubernetes, against the in-memory API emulator (kmock) and
the fake kubelet of tests/kubernetes: replicas are Jobs of their own, a dependency creates
the later Job once the earlier succeeded, a group is one pod running its items in order."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import ROOT

from jobspec import load
from jobspec.engine.run import Reporter

pytest.importorskip("kubernetes", reason="the kubernetes client is not installed (pip install 'jobspec[kubernetes]')")
pytest.importorskip("kmock", reason="kmock, the Kubernetes API emulator, is not installed (the dev extra brings it)")
sys.path.insert(0, str(ROOT / "tests" / "kubernetes"))
from k8s_cluster import Emulator, FakeKubelet, write_kubeconfig

from jobspec.transformers.kubernetes import follow as kube_follow
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer

NAMESPACE = "team-a"

DOC = """\
version: 1
resources:
  one: {type: node, count: 1, with: [{type: core, count: 1}]}
tasks:
- name: first
  resources: one
  command: ["sh", "-c", "echo first"]
- name: copies
  depends_on: [first]
  replicas: 3
  resources: one
  command: ["sh", "-c", "echo copy $JOBSPEC_ARRAY_INDEX"]
"""


@pytest.fixture
def kubelet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Emulator, FakeKubelet]]:
    emulator = Emulator()
    try:
        config = write_kubeconfig(tmp_path / "kubeconfig", emulator.url, "token-0123456789abcdef", NAMESPACE)
        monkeypatch.setenv("KUBECONFIG", str(config))
        monkeypatch.setattr(kube_follow, "POLL_SECONDS", 0.05)
        with FakeKubelet(emulator, NAMESPACE) as fake:
            yield emulator, fake
    finally:
        emulator.close()


def _run(text: str) -> Any:
    doc = yaml.safe_load(text)
    jobspec = load(doc)
    jobspec.transform[-1]["wait"] = True  # the last job only: the run ends once it has
    reporter = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
    return KubernetesTransformer().run(jobspec, reporter=reporter)


def test_replicas_are_jobs_of_their_own_after_the_one_they_depend_on(kubelet: tuple[Emulator, FakeKubelet]) -> None:
    emulator, fake = kubelet
    assert load(yaml.safe_load(DOC)).transform[-1]["after"] == "first"  # first is not waited for by jobspec
    result = _run(DOC)
    assert result.ok, result.error
    jobs = emulator.objects(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")
    assert len(jobs) == 4
    first = next(j["metadata"]["name"] for j in jobs if j["metadata"]["name"].endswith("-first"))
    copies = sorted(j["metadata"]["name"] for j in jobs if j["metadata"]["name"] != first)
    assert len(copies) == 3
    indexes = sorted(fake.pods_of(name)[0].env["JOBSPEC_ARRAY_INDEX"] for name in copies)
    assert indexes == ["0", "1", "2"]
    for name in copies:
        assert fake.when("created", name) > fake.when("finished", first)


GROUP = """\
version: 1
resources:
  pod: {type: node, count: 1, with: [{type: core, count: 2}]}
  one: {type: core, count: 1}
tasks:
- group: g
groups:
- name: g
  resources: pod
  tasks:
  - {local: true, command: [echo, local-start]}
  - {name: job, resources: one, command: ["sh", "-c", "echo job-$JOBSPEC_TASK_RANK"]}
  - {group: inner}
  - {local: true, command: [echo, local-end]}
- name: inner
  tasks:
  - command: ["sh", "-c", "echo inner-$JOBSPEC_TASK_RANK-of-$JOBSPEC_TASK_COUNT"]
"""


def test_a_group_is_one_pod_running_its_items_in_order(kubelet: tuple[Emulator, FakeKubelet]) -> None:
    emulator, fake = kubelet
    result = _run(GROUP)
    assert result.ok, result.error
    (job,) = emulator.objects(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")
    assert job["spec"]["completions"] == 1  # one pod holding the whole request
    requests = job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert requests["cpu"] == "2"
    (pod,) = fake.pods_of(job["metadata"]["name"])
    lines = pod.output.decode().split()
    # no launcher in a pod: jobs are processes in it; the inner group's task uses the
    # enclosing group's resources (one slot of two cores: one task)
    assert lines == ["local-start", "job-0", "inner-0-of-1", "local-end"]
