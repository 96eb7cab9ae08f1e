"""A Kubernetes cluster for the client tests, in this process.

- `Emulator`: kmock's in-memory Kubernetes API emulator (from PyPI) served over HTTP on
  127.0.0.1 from a thread, so the official client talks to it as to a server.
- `FakeKubelet`: the emulator stores objects and does nothing else, so this plays the
  Job controller and the kubelet: for each new Job it materialises the ConfigMap volume
  in a temporary folder (keys, paths, modes), resolves the env (fieldRefs and
  expansion), runs the container's command *on this machine* (no image, no
  isolation) with the mount path mapped to that folder, and records pods, their
  logs and exit codes, and the Job's conditions in the emulator.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from k8s_support import container_view

# ---------------------------------------------------------------------------- the emulator


class Emulator:
    """kmock's KubernetesEmulator on 127.0.0.1, its event loop in a thread."""

    def __init__(self) -> None:
        import kmock

        self._kmock_module = kmock
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="kmock", daemon=True)
        self.thread.start()
        self.url = self.call(self._start())

    def call(self, coro: Any, timeout: float = 10) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> str:
        self.kmock = self._kmock_module.KubernetesEmulator()
        # the emulator knows a resource once it holds an object of it; a real server
        # knows these from the start (an empty list, not a 404)
        for resource in ("v1/pods", "v1/configmaps", "batch/v1/jobs"):
            self.kmock.resources[resource] = {}
        await self.kmock.__aenter__()
        self.server = self._kmock_module.Server(self.kmock)
        await self.server.__aenter__()
        return str(self.server.url).rstrip("/")

    async def _stop(self) -> None:
        await self.server.__aexit__(None, None, None)
        await self.kmock.__aexit__(None, None, None)

    def close(self) -> None:
        try:
            self.call(self._stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)

    def set_log(self, namespace: str, pod: str, chunks: list[bytes], pause: float = 0.0) -> None:
        """The pod's log, served in ``chunks`` with ``pause`` seconds between them."""

        async def register() -> None:
            payload: list[Any] = []
            for i, chunk in enumerate(chunks):
                if i and pause:
                    payload.append(lambda: asyncio.sleep(pause))
                payload.append(chunk)
            self.kmock[f"get /api/v1/namespaces/{namespace}/pods/{pod}/log"] << (tuple(payload) or b"")

        self.call(register())

    def requests(self) -> list[Any]:
        return list(self.kmock)

    # plain HTTP, independent of the client under test
    def http(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise
        return json.loads(text) if text else None

    def objects(self, path: str) -> list[dict[str, Any]]:
        found = self.http("GET", path)
        return list((found or {}).get("items") or [])


def write_kubeconfig(path: Path, server: str, token: str, namespace: str | None = None) -> Path:
    context: dict[str, Any] = {"cluster": "emulator", "user": "tester"}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tester", "user": {"token": token}}],
        "contexts": [{"name": "emulator", "context": context}],
        "current-context": "emulator",
    }
    path.write_text(json.dumps(config))
    return path


# ---------------------------------------------------------------------------- the fake kubelet


@dataclass
class RanPod:
    job: str
    index: int
    argv: list[str]
    env: dict[str, str]
    cwd: str
    exit_code: int
    output: bytes
    files: dict[str, tuple[bytes, int]] = field(default_factory=dict)  # path in the stage -> (data, mode)


class FakeKubelet:
    """Plays the Job controller and the kubelet against the emulator (see the module's text).

    For each new Job: run every pod's command here (as ``nobody`` when this is root, so
    that the read-only ConfigMap mount stays read-only), then record the pods as
    Running with their logs, wait ``linger`` seconds (a Job that runs a while), then
    record the pods' exit codes and the Job's Complete or Failed condition."""

    def __init__(self, emulator: Emulator, namespace: str = "default", pause: float = 0.0, linger: float = 0.0) -> None:
        self.emulator = emulator
        self.namespace = namespace
        self.pause = pause  # seconds between log lines
        self.linger = linger  # seconds a Job stays running once its pods have logs
        self.workdir = Path(tempfile.mkdtemp(prefix="fake-kubelet-"))
        self.workdir.chmod(0o755)  # nobody must reach the stage folders inside
        self.hold: set[str] = set()  # Job names left running (pods without logs) until released
        self.hold_all = False  # or every Job, until this is False again
        self.seen: set[str] = set()
        self.ran: list[RanPod] = []
        self.events: list[tuple[str, str, float]] = []  # ("created" / "finished", Job name, monotonic time)
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="fake-kubelet", daemon=True)

    def __enter__(self) -> FakeKubelet:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        for folder, _dirs, _files in os.walk(self.workdir):
            Path(folder).chmod(0o755)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.errors:
            raise self.errors[0]

    def release(self, name: str) -> None:
        self.hold.discard(name)

    def pods_of(self, job: str) -> list[RanPod]:
        return sorted((p for p in self.ran if p.job == job), key=lambda p: p.index)

    def wait_finished(self, job: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(k == "finished" and n == job for k, n, _t in self.events):
            assert time.monotonic() < deadline, f"the fake kubelet did not finish {job}"
            assert not self.errors, self.errors
            time.sleep(0.02)

    def when(self, kind: str, job: str) -> float:
        return next(t for k, n, t in self.events if k == kind and n == job)

    def _loop(self) -> None:
        pending: list[dict[str, Any]] = []
        while not self.stop.is_set():
            try:
                for job in self.emulator.objects(f"/apis/batch/v1/namespaces/{self.namespace}/jobs"):
                    name = job["metadata"]["name"]
                    if name not in self.seen:
                        self.seen.add(name)
                        self.events.append(("created", name, time.monotonic()))
                        pending.append(job)
                for job in list(pending):
                    if self.hold_all or job["metadata"]["name"] in self.hold:
                        self._start(job)
                        continue
                    pending.remove(job)
                    self._run(job)
            except BaseException as e:  # surfaced when the test leaves the with block
                self.errors.append(e)
                return
            self.stop.wait(0.02)

    def _path(self, kind: str, name: str = "", sub: str = "") -> str:
        group = "/api/v1" if kind in ("pods", "configmaps") else "/apis/batch/v1"
        tail = f"/{name}" if name else ""
        return f"{group}/namespaces/{self.namespace}/{kind}{tail}{'/' + sub if sub else ''}"

    def _patch(self, kind: str, name: str, body: dict[str, Any], sub: str = "") -> None:
        self.emulator.http("PATCH", self._path(kind, name, sub), body, "application/merge-patch+json")

    def _put_pod(self, job: dict[str, Any], index: int, status: dict[str, Any]) -> None:
        pod = f"{job['metadata']['name']}-{index}-fake"
        if self.emulator.http("GET", self._path("pods", pod)) is None:
            self.emulator.http("POST", self._path("pods"), self._pod(job, index, status))
        else:
            self._patch("pods", pod, {"status": status}, "status")

    def _start(self, job: dict[str, Any]) -> None:
        if job.get("_started"):
            return
        job["_started"] = True
        completions = job["spec"]["completions"]
        for index in range(completions):
            self._put_pod(job, index, {"phase": "Pending"})
        self._patch("jobs", job["metadata"]["name"], {"status": {"active": completions}}, "status")

    def _pod(self, job: dict[str, Any], index: int, status: dict[str, Any]) -> dict[str, Any]:
        name = job["metadata"]["name"]
        template = job["spec"]["template"].get("metadata") or {}
        index_key = "batch.kubernetes.io/job-completion-index"
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{name}-{index}-fake",
                "namespace": self.namespace,
                "labels": {**(template.get("labels") or {}), "job-name": name, index_key: str(index)},
                "annotations": {**(template.get("annotations") or {}), index_key: str(index)},
            },
            "spec": job["spec"]["template"]["spec"],
            "status": status,
        }

    def _run(self, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        completions = job["spec"]["completions"]
        pod_spec = job["spec"]["template"]["spec"]
        container = pod_spec["containers"][0]
        stage_dir = self.workdir / name
        files = self._materialise(pod_spec, stage_dir)
        mount = next((m["mountPath"] for m in container.get("volumeMounts") or []), None)

        def local(text: str) -> str:
            return str(stage_dir) + text[len(mount) :] if mount and text.startswith(mount) else text

        codes = []
        for index in range(completions):
            argv, env = container_view(job, index, self.namespace)
            cwd = container.get("workingDir") or "/"
            argv = [local(a) for a in argv]
            workdir = Path(local(cwd))
            if not workdir.exists():  # the runtime makes a missing working directory
                workdir.mkdir(parents=True)
            try:
                proc = subprocess.run(
                    argv,
                    cwd=workdir,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/", **env},
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    timeout=60,
                    user=65534 if os.geteuid() == 0 else None,
                )
                code, output = proc.returncode, proc.stdout
            except (FileNotFoundError, PermissionError) as e:
                code, output = 127, f"exec {argv[0]}: {e.strerror}\n".encode()
            self.ran.append(RanPod(name, index, argv, env, cwd, code, output, files))
            codes.append(code)
            self.emulator.set_log(self.namespace, f"{name}-{index}-fake", output.splitlines(keepends=True), self.pause)
            self._put_pod(job, index, {"phase": "Running", "containerStatuses": [{"state": {"running": {}}}]})
        self._patch("jobs", name, {"status": {"active": completions, "ready": completions}}, "status")
        time.sleep(self.linger)
        for index, code in enumerate(codes):
            terminated = {"name": container["name"], "state": {"terminated": {"exitCode": code}}}
            self._put_pod(
                job, index, {"phase": "Succeeded" if code == 0 else "Failed", "containerStatuses": [terminated]}
            )
        failed = sum(1 for c in codes if c != 0)
        condition = (
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
            if failed
            else {"type": "Complete", "status": "True"}
        )
        status = {
            "active": 0,
            "ready": 0,
            "succeeded": completions - failed,
            "failed": failed,
            "conditions": [condition],
        }
        self._patch("jobs", name, {"status": status}, "status")
        self.events.append(("finished", name, time.monotonic()))

    def _materialise(self, pod_spec: dict[str, Any], stage_dir: Path) -> dict[str, tuple[bytes, int]]:
        """Lay the ConfigMap volume out as the kubelet would: each item at its path, with
        its mode, the folders read-only."""
        files: dict[str, tuple[bytes, int]] = {}
        stage_dir.mkdir(parents=True)
        for volume in pod_spec.get("volumes") or []:
            source = volume.get("configMap")
            if source is None:
                continue
            held = self.emulator.http("GET", self._path("configmaps", source["name"]))
            assert held is not None, f"the Job mounts ConfigMap {source['name']}, which does not exist"
            for item in source.get("items") or []:
                if item["key"] in (held.get("data") or {}):
                    data = held["data"][item["key"]].encode("utf-8")
                else:
                    data = base64.b64decode(held["binaryData"][item["key"]])
                target = stage_dir / item["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                mode = item.get("mode", source.get("defaultMode", 0o644))
                target.chmod(mode)
                files[item["path"]] = (data, mode)
        for folder, _dirs, _files in os.walk(stage_dir):
            Path(folder).chmod(0o555)  # a ConfigMap volume is read-only
        return files
