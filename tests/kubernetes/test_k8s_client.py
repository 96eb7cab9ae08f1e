"""The client layer over HTTP: the official ``kubernetes`` client against kmock's in-memory
Kubernetes API emulator (a PyPI package) on 127.0.0.1, with `FakeKubelet` playing the
Job controller and the kubelet (the emulator stores objects and runs nothing).

What this proves: the calls (create ConfigMap and Job, watch the Job, list pods, stream
logs, delete with propagation), the credentials (kubeconfig, bearer token), the
waiting for ``after:``, status/wait/cancel by id, and that a token never shows. What it
cannot: the real API server's admission and the real kubelet (the integration tests).
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_cluster import Emulator, FakeKubelet, write_kubeconfig
from k8s_support import EXPECTED, PROJECT_EXAMPLES, SEED_EXAMPLES, api_server_problems

from jobspec.engine.result import RunResult
from jobspec.engine.run import Reporter
from jobspec.plugin import JobLookupError
from jobspec.transformers.kubernetes import follow as kube_follow
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer

pytest.importorskip("kubernetes", reason="the kubernetes client is not installed (pip install -e '.[kubernetes]')")
pytest.importorskip("kmock", reason="kmock, the Kubernetes API emulator, is not installed (the dev extra brings it)")

TOKEN = "kubeconfig-token-0123456789abcdef"
NAMESPACE = "team-a"


@dataclass
class Cluster:
    emulator: Emulator
    kubelet: FakeKubelet
    kubeconfig: Path

    def jobs(self) -> list[dict[str, Any]]:
        return self.emulator.objects(f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs")

    def config_maps(self) -> list[dict[str, Any]]:
        return self.emulator.objects(f"/api/v1/namespaces/{NAMESPACE}/configmaps")

    def requests(self, method: str | None = None, contains: str = "") -> list[Any]:
        return [
            r
            for r in self.emulator.requests()
            if (method is None or str(r.method).endswith(method)) and contains in str(r.url)
        ]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    try:
        yield emu
    finally:
        emu.close()


@pytest.fixture
def cluster(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", emulator.url, TOKEN, NAMESPACE)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setattr(kube_follow, "POLL_SECONDS", 0.05)
    with FakeKubelet(emulator, NAMESPACE) as kubelet:
        yield Cluster(emulator, kubelet, kubeconfig)


class Timed(io.StringIO):
    """An output stream that remembers when each write came."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def write(self, text: str) -> int:
        self.times.append(time.monotonic())
        return super().write(text)


def run(source: Any, out: io.StringIO | None = None, steps: io.StringIO | None = None) -> RunResult:
    reporter = Reporter(stream=steps or io.StringIO(), output=out or io.StringIO(), color=False)
    return KubernetesTransformer().run(source, reporter=reporter)


HELLO = PROJECT_EXAMPLES[[p.name for p in PROJECT_EXAMPLES].index("hello-world.yaml")]


def two_steps(first: str, second_after: bool = True, first_wait: bool = False) -> dict[str, Any]:
    return {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 2, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "transform": [
                {"step": "write", "filename": "first.sh"},
                {"step": "write", "filename": "second.sh"},
                {"step": "submit", "name": "first", "filename": "first.sh", **({"wait": True} if first_wait else {})},
                {
                    "step": "submit",
                    "name": "second",
                    "filename": "second.sh",
                    "wait": True,
                    **({"after": "first"} if second_after else {}),
                },
            ],
            "scripts": [
                {"name": "first.sh", "content": f"#!/bin/sh\n{first}\n"},
                {"name": "second.sh", "content": '#!/bin/sh\necho "second $JOBSPEC_TASK_RANK"\n'},
            ],
        },
    }


# ---------------------------------------------------------------------------- running


def test_watch_streams_every_pods_log_while_the_job_runs(cluster: Cluster) -> None:
    cluster.kubelet.pause, cluster.kubelet.linger = 0.1, 1.0
    out = Timed()
    result = run(HELLO, out)
    assert result.ok, result.error
    lines = sorted(out.getvalue().splitlines())
    assert [line.split(" on ")[0] for line in lines] == [f"hello from task {i} of 4" for i in range(4)]
    (job,) = cluster.jobs()
    name = job["metadata"]["name"]
    assert result.job_ids == [f"k8s:{NAMESPACE}/{name}"]
    # streamed, not fetched at the end: the first lines came while the Job still ran
    assert out.times[0] < cluster.kubelet.when("finished", name)
    # the client's calls: ConfigMap, Job, a watch on the Job, the pods' logs followed
    assert cluster.requests("POST", "/configmaps") and cluster.requests("POST", "/jobs")
    watches = cluster.requests("GET", "/jobs")
    assert any(
        r.params.get("watch", "").lower() == "true" and r.params.get("fieldSelector") == f"metadata.name={name}"
        for r in watches
    )
    logs = cluster.requests("GET", "/log")
    assert len({str(r.url) for r in logs}) == 4 and all(r.params.get("follow", "").lower() == "true" for r in logs)
    step = result.steps[-1]
    assert (step.details["state"], step.details["exit_code"], step.details["task_exit_codes"]) == (
        "completed",
        0,
        [0, 0, 0, 0],
    )


def test_what_the_server_stored_is_what_the_manifests_say(cluster: Cluster) -> None:
    result = run(HELLO)
    assert result.ok, result.error
    (config_map,) = cluster.config_maps()
    (job,) = cluster.jobs()
    stored = [config_map, {k: v for k, v in job.items() if k != "status"}]
    assert api_server_problems(stored) == []
    assert config_map["data"] == {"hello.sh": yaml.safe_load(HELLO.read_text())["task"]["scripts"][0]["content"]}
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"] == [
        {"key": "hello.sh", "path": "hello.sh", "mode": 0o755}
    ]
    pods = cluster.kubelet.pods_of(job["metadata"]["name"])
    assert [p.env["JOBSPEC_TASK_RANK"] for p in pods] == ["0", "1", "2", "3"]
    assert pods[0].files["hello.sh"][1] == 0o755


def test_a_failing_task_fails_the_step_with_its_exit_code(cluster: Cluster) -> None:
    data = two_steps('[ "$JOBSPEC_TASK_RANK" = 1 ] && exit 3\nexit 0', second_after=False, first_wait=True)
    result = run(data)
    assert not result.ok
    assert "failed with exit code 3 (1 task failed)" in (result.error or "")
    status = KubernetesTransformer().status(result.job_ids[0])
    assert (status.state, status.exit_code, status.details["task_exit_codes"]) == ("failed", 3, [0, 3])
    assert len(cluster.jobs()) == 1  # the run stopped there


def test_after_creates_the_later_job_once_the_earlier_one_succeeded(cluster: Cluster) -> None:
    cluster.kubelet.hold_all = True  # the first Job runs until released, half a second after it was created

    def release() -> None:
        deadline = time.monotonic() + 60
        while not cluster.kubelet.events and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        cluster.kubelet.hold_all = False

    threading.Thread(target=release, daemon=True).start()
    result = run(two_steps("echo first"))
    assert result.ok, result.error
    first, second = (s for s in result.steps if s.job_id)
    assert first.job_id and second.job_id
    first_name, second_name = (j.split("/")[1] for j in (first.job_id, second.job_id))
    assert cluster.kubelet.when("created", second_name) > cluster.kubelet.when("finished", first_name)
    assert f"(created after {first.job_id} succeeded)" in second.summary
    assert (second.details["after"], second.details["after_state"]) == (first.job_id, "completed")
    assert second.details["waited_seconds"] > 0.3


def test_after_an_array_creates_the_later_job_once_every_element_succeeded(cluster: Cluster) -> None:
    data = two_steps("echo first")
    data["task"]["transform"][2]["array"] = "0-2"
    data["task"]["transform"][3]["after"] = ["first"]
    data["resources"][0]["count"] = 1
    result = run(data)
    assert result.ok, result.error
    first, second = (s for s in result.steps if s.job_id)
    elements = list(first.details["array"].values())
    assert len(elements) == 3 and second.details["after"] == elements
    created = cluster.kubelet.when("created", str(second.job_id).split("/")[1])
    assert all(created > cluster.kubelet.when("finished", e.split("/")[1]) for e in elements)


def test_after_a_failed_job_the_later_one_is_not_created(cluster: Cluster) -> None:
    result = run(two_steps("exit 1"))
    assert not result.ok
    first = next(s for s in result.steps if s.job_id)
    assert f"not created: it runs after step 'first', and job {first.job_id} failed with exit code 1" in (
        result.error or ""
    )
    assert len(cluster.jobs()) == 1


@pytest.mark.usefixtures("shared")  # its original examples
def test_a_file_written_after_the_first_job_reaches_the_second(cluster: Cluster) -> None:
    """The original 0.0.12 flux-receive example: install.sh, a Job, then job.sh and another Job;
    the ConfigMap is created, then replaced with both files."""
    path = next(p for p in SEED_EXAMPLES if p.name == "flux-receive-jobspec.yaml")
    result = run(path)
    assert result.ok, result.error
    (config_map,) = cluster.config_maps()
    assert set(config_map["data"]) == {"install.sh", "job.sh"}
    assert len(cluster.requests("POST", "/configmaps")) == 2  # the second: 409, it exists
    (patch,) = cluster.requests("PATCH", "/configmaps/")
    # a merge patch (clients before 37 send a strategic merge patch: the same for a ConfigMap's data)
    assert patch.headers.get("Content-Type") in (
        "application/merge-patch+json",
        "application/strategic-merge-patch+json",
    )
    second = result.job_ids[1].split("/")[1]
    cluster.kubelet.wait_finished(second)
    outputs = [p.output.decode() for p in cluster.kubelet.pods_of(second)]
    assert outputs[0].startswith("This is task 0\nHello I am the leader")
    assert outputs[3].startswith("This is task 3\nHello I am a follower")


def test_an_array_runs_one_job_per_index_each_with_its_index(cluster: Cluster) -> None:
    data = two_steps('echo "index $JOBSPEC_ARRAY_INDEX"', second_after=False)
    data["task"]["transform"][2].update(array="0,2-3", wait=True)
    del data["task"]["transform"][3]
    data["resources"][0]["count"] = 1
    result = run(data)
    assert result.ok, result.error
    ids = result.steps[-1].details["array"]
    assert list(ids) == ["0", "2", "3"] and len(set(ids.values())) == 3
    names = sorted(job["metadata"]["name"] for job in cluster.jobs())
    assert names == sorted(job_id.rsplit("/", 1)[1] for job_id in ids.values())
    assert sorted(pod.output.decode() for pod in cluster.kubelet.ran) == ["index 0\n", "index 2\n", "index 3\n"]


def test_literal_values_reach_the_process(cluster: Cluster) -> None:
    weird = 'it\'s "quoted" $(whoami) ${HOME} $$ `date`\nnew line ünïcødé ✓ $'
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "command": ["printf", "%s|%s|%s", weird, "$(WEIRD)", "$WEIRD"],
            "transform": [{"step": "submit", "wait": True}],
        },
        "attributes": {"system": {"environment": {"WEIRD": weird}, "job": {"name": "Ünï_Name 'q' $(x)"}}},
    }
    result = run(data)
    assert result.ok, result.error
    (pod,) = cluster.kubelet.ran
    assert pod.output.decode() == f"{weird}|$(WEIRD)|$WEIRD"
    assert pod.env["WEIRD"] == weird and pod.env["JOBSPEC_JOB_NAME"] == "Ünï_Name 'q' $(x)"
    assert "names made valid for Kubernetes: \"Ünï_Name 'q' $(x)\" -> 'uni-name-q-x'" in result.steps[0].summary


def test_executable_bits_survive(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    tool = tmp_path / "bin" / "tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    data = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "command": ["./tools/bin/tool"],
            "transform": [
                {"step": "copy", "source": str(tmp_path / "bin"), "destination": "tools/bin"},
                {"step": "submit", "watch": True},
            ],
        },
    }
    out = io.StringIO()
    result = run(data, out)
    assert result.ok, result.error
    assert out.getvalue() == "tool ran\n"


# ---------------------------------------------------------------------------- the life cycle by id


def test_status_wait_and_cancel_by_job_id(cluster: Cluster) -> None:
    data = two_steps("echo first", second_after=False)
    data["task"]["transform"] = data["task"]["transform"][:3]  # one Job, not waited for
    cluster.kubelet.hold_all = True
    result = run(data)
    assert result.ok, result.error
    (the_id,) = result.job_ids
    transformer = KubernetesTransformer()
    deadline = time.monotonic() + 5
    while transformer.status(the_id).state != "running" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert transformer.status(the_id).state == "running"
    started = time.monotonic()
    assert transformer.wait(the_id, timeout=0.3).state == "running"
    assert time.monotonic() - started < 2
    status = transformer.cancel(the_id)
    assert (status.state, status.reason) == ("cancelled", "the Job and its pods were deleted")
    (delete,) = cluster.requests("DELETE", "/jobs/")
    assert delete.params.get("propagationPolicy") == "Foreground"
    with pytest.raises(JobLookupError, match=r"no Kubernetes Job .* in namespace team-a"):
        transformer.status(the_id)


def test_cancel_leaves_a_finished_job_alone(cluster: Cluster) -> None:
    result = run(HELLO)
    (the_id,) = result.job_ids
    status = KubernetesTransformer().cancel(the_id)
    assert status.state == "completed"
    assert not cluster.requests("DELETE")


def test_wait_for_a_job_id(cluster: Cluster) -> None:
    data = two_steps("sleep 0.2; echo first", second_after=False)
    data["task"]["transform"] = data["task"]["transform"][:3]
    result = run(data)
    (the_id,) = result.job_ids
    status = KubernetesTransformer().wait(the_id, timeout=30)
    assert (status.state, status.exit_code, status.details["task_exit_codes"]) == ("completed", 0, [0, 0])


def test_unknown_job_ids(cluster: Cluster) -> None:
    with pytest.raises(JobLookupError, match="no Kubernetes Job nope in namespace team-a"):
        KubernetesTransformer().status("k8s:team-a/nope")
    with pytest.raises(JobLookupError, match="not a Kubernetes job id"):
        KubernetesTransformer().status("local-19ab-000000")


# ---------------------------------------------------------------------------- credentials


def test_kubeconfig_credentials_are_used(cluster: Cluster) -> None:
    run(HELLO)
    ours = [r for r in cluster.emulator.requests() if "OpenAPI-Generator" in r.headers.get("User-Agent", "")]
    assert ours and {r.headers.get("Authorization") for r in ours} == {f"Bearer {TOKEN}"}


def test_a_bearer_token_from_the_environment_is_sent_and_never_shown(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "s3cr3t-t0ken-" + "x" * 40
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config either
    monkeypatch.setenv("MY_K8S_TOKEN", secret)
    monkeypatch.setattr(kube_follow, "POLL_SECONDS", 0.05)
    data = yaml.safe_load(HELLO.read_text())
    data["task"]["transform"][:0] = [
        {"step": "set", "key": "kubernetes.namespace", "value": NAMESPACE},
        {"step": "auth", "token_env": "MY_K8S_TOKEN", "server": emulator.url},
    ]
    caplog.set_level(logging.DEBUG)
    steps, out = io.StringIO(), io.StringIO()
    with FakeKubelet(emulator, NAMESPACE):
        result = run(data, out, steps)
    assert result.ok, result.error
    ours = [r for r in emulator.requests() if "OpenAPI-Generator" in r.headers.get("User-Agent", "")]
    assert ours and {r.headers.get("Authorization") for r in ours} == {f"Bearer {secret}"}
    auth = result.steps[1]
    assert auth.summary == f"a bearer token from $MY_K8S_TOKEN for {emulator.url}, namespace {NAMESPACE}"
    for text in (steps.getvalue(), out.getvalue(), result.to_json(), caplog.text, repr(result)):
        assert secret not in text
    dry = io.StringIO()
    KubernetesTransformer().run(data, dry_run=True, reporter=Reporter(stream=dry, color=False))
    assert secret not in dry.getvalue() and "$MY_K8S_TOKEN (not shown)" in dry.getvalue()


def test_a_rejected_token_fails_the_auth_step(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse() -> None:
        (
            emulator.kmock["get /apis/batch/v1/namespaces/default/jobs"]
            << 401
            << {
                "kind": "Status",
                "message": "Unauthorized",
                "code": 401,
            }
        )

    emulator.call(refuse())
    monkeypatch.setenv("BAD_TOKEN", "not-a-valid-token")
    data = yaml.safe_load(HELLO.read_text())
    data["task"]["transform"][:0] = [{"step": "auth", "token_env": "BAD_TOKEN", "server": emulator.url}]
    result = run(data)
    assert not result.ok
    assert "answered 401" in (result.error or "") and "not-a-valid-token" not in (result.error or "")
    assert result.job_ids == []


def test_an_unreachable_server_is_a_clean_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9", TOKEN)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    started = time.monotonic()
    result = run(HELLO)
    assert not result.ok and "did not answer" in (result.error or "")
    assert time.monotonic() - started < 30
    with pytest.raises(RuntimeError, match="did not answer"):
        KubernetesTransformer().status("k8s:default/x")


def test_available_looks_for_credentials_without_calling_anyone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert KubernetesTransformer.available() == (False, "no KUBECONFIG, ~/.kube/config or in-cluster service account")
    monkeypatch.setenv("KUBECONFIG", "/nowhere/at/all")
    assert KubernetesTransformer.available() == (True, "KUBECONFIG is set")


# ---------------------------------------------------------------------------- every example, end to end


@pytest.mark.parametrize(
    "path", SEED_EXAMPLES + PROJECT_EXAMPLES, ids=[p.name for p in SEED_EXAMPLES + PROJECT_EXAMPLES]
)
def test_every_example_end_to_end_on_the_emulator(cluster: Cluster, path: Path) -> None:
    result = run(path)
    expected = EXPECTED[path.name]
    assert result.ok == all(state == "completed" for state in expected) or path.name == "hello-world-batch.yaml"
    transformer = KubernetesTransformer()
    states = [transformer.wait(the_id, timeout=30).state for the_id in result.job_ids]
    assert states == expected, result.error


def test_a_stuck_pod_is_reported_while_waiting(cluster: Cluster) -> None:
    data = two_steps("echo first", second_after=False, first_wait=True)
    data["task"]["transform"] = data["task"]["transform"][:3]
    cluster.kubelet.hold_all = True

    def trouble() -> None:
        while not cluster.kubelet.seen:
            time.sleep(0.01)
        name = next(iter(cluster.kubelet.seen))
        pod = f"{name}-0-fake"
        deadline = time.monotonic() + 5
        while cluster.emulator.http("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}") is None:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        waiting = {"state": {"waiting": {"reason": "ErrImagePull", "message": "pull access denied"}}}
        cluster.emulator.http(
            "PATCH",
            f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}/status",
            {"status": {"containerStatuses": [waiting]}},
            "application/merge-patch+json",
        )
        time.sleep(0.5)
        cluster.kubelet.hold_all = False

    threading.Thread(target=trouble, daemon=True).start()
    steps = io.StringIO()
    result = run(data, steps=steps)
    assert result.ok, result.error
    assert steps.getvalue().count(": ErrImagePull: pull access denied") == 1


def test_waiting_shows_the_jobs_state_as_it_changes(cluster: Cluster) -> None:
    """Off a terminal, one line per change of the Job's state while a step waits for it."""
    data = two_steps("echo first", second_after=False, first_wait=True)
    data["task"]["transform"] = data["task"]["transform"][:3]
    cluster.kubelet.hold_all = True

    def release() -> None:
        while not cluster.kubelet.seen:
            time.sleep(0.01)
        time.sleep(0.5)
        cluster.kubelet.hold_all = False

    threading.Thread(target=release, daemon=True).start()
    steps = io.StringIO()
    result = run(data, steps=steps)
    assert result.ok, result.error
    job_id = result.job_ids[0]
    lines = steps.getvalue().splitlines()
    submitted = lines.index(f"   job {job_id} submitted")
    assert lines[submitted + 1] == f"   job {job_id}: pending"  # held: no pod has started
    assert lines.count(f"   job {job_id}: pending") == 1  # once, however often the Job changed


def test_a_resumed_run_finds_its_job_and_keeps_its_names(cluster: Cluster, tmp_path: Path) -> None:
    """The receiver's resumable runs: the Job carries the step's submit key (a label of its
    hash, an annotation of itself); a run cut short after creating it, and resumed, adopts
    it instead of creating another, and keeps its names (the run id comes from the key)."""
    from jobspec.engine.journal import Journal
    from jobspec.engine.plan import plan
    from jobspec.engine.run import execute

    def resume(journal: Path) -> RunResult:
        reporter = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
        return execute(plan(HELLO, KubernetesTransformer()), reporter, journal=Journal(journal, "spool-run-42"))

    first = resume(tmp_path / "journal-1")
    assert first.ok, first.error
    (job,) = cluster.jobs()
    assert job["metadata"]["annotations"]["jobspec/submit-key"] == "spool-run-42.1"
    assert KubernetesTransformer().find_job("spool-run-42.1") == first.job_ids[0]
    assert KubernetesTransformer().find_job("spool-run-42.9") is None
    # cut short before the journal recorded the submit: the journal holds only what an
    # attempt writes before its first step (the stage line), for the same run
    stage_line = (tmp_path / "journal-1").read_text().splitlines()[0]
    (tmp_path / "journal-2").write_text(stage_line + "\n")
    second = resume(tmp_path / "journal-2")
    assert second.ok, second.error
    assert second.job_ids == first.job_ids and second.steps[-1].details.get("adopted")
    assert len(cluster.requests("POST", "/jobs")) == 1 and len(cluster.config_maps()) == 1
    # and with the journal that recorded it, the step is not even looked up
    third = resume(tmp_path / "journal-1")
    assert third.ok and third.steps[-1].resumed
