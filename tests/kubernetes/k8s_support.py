"""Test support for the Kubernetes transformer (a helper module, not a conftest: a second
conftest.py would take the name ``conftest`` from the one in tests/).

- `api_server_problems`: the rules the API server adds on top of the OpenAPI schemas,
  written again here from the Kubernetes validation code, independent of the
  transformer's own helpers: the oracle for the manifests.
- `expand`: Kubernetes' ``$(VAR)`` expansion of command, args and env values (a port
  of ``third_party/forked/golang/expansion``), to show what a container receives.
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
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("JOBSPEC_SHARED_DIR", ROOT.parent / "shared"))
SEED_EXAMPLES = sorted((SHARED / "seed" / "examples").glob("*.yaml"))
PROJECT_EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
PINNED_KUBERNETES = "1.30.0"  # the schemas the manifests must pass, strictly

# What each example's Jobs end as on Kubernetes, and why when it is not success.
EXPECTED = {
    "flux-receive-jobspec.yaml": ["completed", "completed"],
    # batch.sh runs `flux submit`: there is no flux in the pod
    "hello-world-batch.yaml": ["failed"],
    "hello-world-jobspec.yaml": ["completed"],
    "hello-world-wait-jobspec.yaml": ["completed"],
    "hello-world.yaml": ["completed"],
    # install.sh makes tools/ in its working directory, the read-only ConfigMap mount,
    # and count.sh needs what install.sh made: this example needs a shared, writable
    # filesystem, which a ConfigMap is not
    "pipeline.yaml": ["failed"],
}

# ---------------------------------------------------------------------------- the API server's rules

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
CONFIG_MAP_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
FIELD_PATHS = re.compile(
    r"^(metadata\.(name|namespace|uid)|metadata\.(labels|annotations)\['[^']+'\]"
    r"|spec\.(nodeName|serviceAccountName)|status\.(hostIP|hostIPs|podIP|podIPs))$"
)


def _name(where: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, str) or len(value) > 63 or not DNS1123_LABEL.match(value):
        problems.append(f"{where}: {value!r} is not a DNS-1123 label of at most 63 characters")


def _qualified_key(where: str, key: str, problems: list[str]) -> None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)):
        problems.append(f"{where}: key {key!r} has a prefix that is not a DNS subdomain")
    if not name or len(name) > 63 or not QUALIFIED_NAME.match(name):
        problems.append(f"{where}: key {key!r} is not a qualified name")


def _metadata(where: str, meta: dict[str, Any], problems: list[str]) -> None:
    if "name" in meta:
        _name(f"{where}.name", meta["name"], problems)
    if "namespace" in meta:
        _name(f"{where}.namespace", meta["namespace"], problems)
    for key, value in (meta.get("labels") or {}).items():
        _qualified_key(f"{where}.labels", key, problems)
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            problems.append(f"{where}.labels[{key}]: {value!r} is not a label value")
    annotations = meta.get("annotations") or {}
    for key, value in annotations.items():
        _qualified_key(f"{where}.annotations", key, problems)
        if not isinstance(value, str):
            problems.append(f"{where}.annotations[{key}] is not a string")
    if sum(len(k) + len(v) for k, v in annotations.items()) > 256 * 1024:
        problems.append(f"{where}.annotations: more than 256 KiB")


def _quantity(where: str, value: Any, problems: list[str]) -> None:
    if not isinstance(value, str) or not QUANTITY.match(value):
        problems.append(f"{where}: {value!r} is not a quantity (as a string)")


def config_map_problems(doc: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    _metadata("metadata", doc.get("metadata") or {}, problems)
    data, binary = doc.get("data") or {}, doc.get("binaryData") or {}
    total = 0
    for table, decode in ((data, lambda v: v.encode("utf-8")), (binary, base64.b64decode)):
        for key, value in table.items():
            if len(key) > 253 or not CONFIG_MAP_KEY.match(key) or key in (".", "..") or key.startswith(".."):
                problems.append(f"data key {key!r} is not a valid ConfigMap key")
            total += len(decode(value))
    for key in set(data) & set(binary):
        problems.append(f"key {key!r} is in both data and binaryData")
    if total > 1024 * 1024:
        problems.append(f"data and binaryData hold {total} bytes, more than 1 MiB")
    return problems


def job_problems(doc: dict[str, Any], config_maps: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """The Job rules beyond the schema; ``config_maps`` (by name) to check volume items' keys."""
    problems: list[str] = []
    meta = doc.get("metadata") or {}
    _metadata("metadata", meta, problems)
    spec = doc.get("spec") or {}
    for key in ("completions", "parallelism", "backoffLimit"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            problems.append(f"spec.{key}: {value!r} must be a non-negative integer")
    deadline = spec.get("activeDeadlineSeconds")
    if deadline is not None and (not isinstance(deadline, int) or deadline <= 0):
        problems.append(f"spec.activeDeadlineSeconds: {deadline!r} must be a positive integer")
    if spec.get("completionMode") == "Indexed":
        completions = spec.get("completions")
        if completions is None:
            problems.append("spec.completions must be set when completionMode is Indexed")
        elif completions > 100_000 or (spec.get("parallelism") or 0) > 100_000:
            problems.append("an Indexed Job holds at most 100000 completions and parallelism")
        elif completions > 0:
            hostname = f"{meta.get('name')}-{completions - 1}"
            if len(hostname) > 63 or not DNS1123_LABEL.match(hostname):
                problems.append(f"the last pod's host name {hostname!r} is not a DNS-1123 label")
    template = spec.get("template") or {}
    _metadata("spec.template.metadata", template.get("metadata") or {}, problems)
    pod = template.get("spec") or {}
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(
            f"spec.template.spec.restartPolicy {pod.get('restartPolicy')!r}: a Job needs Never or OnFailure"
        )
    volumes = {}
    for i, volume in enumerate(pod.get("volumes") or []):
        _name(f"volumes[{i}].name", volume.get("name"), problems)
        volumes[volume.get("name")] = volume
        source = volume.get("configMap")
        if source is None:
            continue
        _name(f"volumes[{i}].configMap.name", source.get("name"), problems)
        held = (config_maps or {}).get(source.get("name"))
        for j, item in enumerate(source.get("items") or []):
            path = item.get("path", "")
            if not path or path.startswith("/") or ".." in path.split("/") or path.startswith(".."):
                problems.append(f"volumes[{i}].configMap.items[{j}].path {path!r} must be relative, without '..'")
            mode = item.get("mode")
            if mode is not None and not 0 <= mode <= 0o777:
                problems.append(f"volumes[{i}].configMap.items[{j}].mode {mode!r} out of range")
            if held is not None and item.get("key") not in {
                **(held.get("data") or {}),
                **(held.get("binaryData") or {}),
            }:
                problems.append(f"volumes[{i}].configMap.items[{j}].key {item.get('key')!r} is not in the ConfigMap")
    containers = pod.get("containers") or []
    if not containers:
        problems.append("the pod has no containers")
    for i, c in enumerate(containers):
        where = f"containers[{i}]"
        _name(f"{where}.name", c.get("name"), problems)
        if not c.get("image"):
            problems.append(f"{where}.image is empty")
        if not isinstance(c.get("command"), list) or not all(isinstance(a, str) for a in c["command"]):
            problems.append(f"{where}.command must be a list of strings")
        seen: set[str] = set()
        for env in c.get("env") or []:
            name = env.get("name", "")
            if not ENV_VAR_NAME.match(name):
                problems.append(f"{where}.env {name!r} is not a valid environment variable name")
            if name in seen:
                problems.append(f"{where}.env {name!r} is set twice")
            seen.add(name)
            if ("value" in env) == ("valueFrom" in env):
                problems.append(f"{where}.env {name!r} needs exactly one of value, valueFrom")
            ref = (env.get("valueFrom") or {}).get("fieldRef")
            if ref is not None and not FIELD_PATHS.match(ref.get("fieldPath", "")):
                problems.append(f"{where}.env {name!r}: fieldPath {ref.get('fieldPath')!r} is not supported")
        resources = c.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        for table_name, table in (("requests", requests), ("limits", limits)):
            for key, value in table.items():
                _quantity(f"{where}.resources.{table_name}.{key}", value, problems)
        for key, value in requests.items():
            if key in limits and _number(value) > _number(limits[key]):
                problems.append(f"{where}: requests.{key} {value} is more than limits.{key} {limits[key]}")
            if "/" in key and not key.endswith("kubernetes.io") and "kubernetes.io/" not in key:
                if key not in limits or limits[key] != value:
                    problems.append(f"{where}: extended resource {key} needs equal requests and limits")
                if not re.fullmatch(r"[0-9]+", value):
                    problems.append(f"{where}: extended resource {key} must be a whole number")
        for j, mount in enumerate(c.get("volumeMounts") or []):
            if mount.get("name") not in volumes:
                problems.append(f"{where}.volumeMounts[{j}] names no volume")
            if not mount.get("mountPath"):
                problems.append(f"{where}.volumeMounts[{j}].mountPath is empty")
    return problems


def _number(quantity: str) -> float:
    suffixes = {"m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3}
    found = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", quantity)
    assert found, quantity
    return float(found.group(1)) * suffixes[found.group(2)]


def api_server_problems(documents: list[dict[str, Any]]) -> list[str]:
    """Every rule broken by a list of manifests (ConfigMaps first, as they are applied)."""
    problems: list[str] = []
    config_maps: dict[str, dict[str, Any]] = {}
    for doc in documents:
        if doc.get("kind") == "ConfigMap":
            problems += [f"ConfigMap: {p}" for p in config_map_problems(doc)]
            config_maps[doc["metadata"]["name"]] = doc
        elif doc.get("kind") == "Job":
            problems += [f"Job {doc['metadata'].get('name')}: {p}" for p in job_problems(doc, config_maps)]
        else:
            problems.append(f"unexpected kind {doc.get('kind')!r}")
    return problems


def schema_problems(documents: list[dict[str, Any]], version: str = PINNED_KUBERNETES) -> list[str]:
    """The published OpenAPI schemas of ``version``, strict (no unknown fields)."""
    import pytest

    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed (the dev extra brings it)"
    )

    problems = []
    for doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.path)
            problems.append(f"{doc.get('kind')} {doc['metadata'].get('name')}: {path}: {e.message}")
    return problems


# ---------------------------------------------------------------------------- $(VAR) expansion


def expand(text: str, env: dict[str, str]) -> str:
    """What Kubernetes makes of ``text`` in a command, an arg or an env value
    (``$$`` -> ``$``; ``$(NAME)`` -> its value when defined, else left as is)."""
    out: list[str] = []
    checkpoint = 0
    cursor = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            read, is_var, advance = _read_variable(text[cursor + 1 :])
            if is_var:
                out.append(env.get(read, f"$({read})"))
            else:
                out.append(read)
            cursor += advance
            checkpoint = cursor + 1
        cursor += 1
    return "".join(out) + text[checkpoint:]


def _read_variable(rest: str) -> tuple[str, bool, int]:
    if rest[0] == "$":
        return "$", False, 1
    if rest[0] == "(":
        for i in range(1, len(rest)):
            if rest[i] == ")":
                return rest[1:i], True, i + 1
        return "$(", False, 1
    return "$" + rest[0], False, 1


def container_view(job: dict[str, Any], index: int, namespace: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment a pod of ``job`` with completion ``index`` receives."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    annotations = {
        **(job["spec"]["template"].get("metadata", {}).get("annotations") or {}),
        "batch.kubernetes.io/job-completion-index": str(index),
    }
    env: dict[str, str] = {"JOB_COMPLETION_INDEX": str(index)}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        path = item["valueFrom"]["fieldRef"]["fieldPath"]
        if path == "metadata.namespace":
            env[item["name"]] = namespace
        elif path.startswith("metadata.annotations['"):
            env[item["name"]] = annotations.get(path[len("metadata.annotations['") : -2], "")
        else:
            raise AssertionError(f"the fake kubelet does not resolve {path}")
    argv = [expand(arg, env) for arg in container["command"]] + [expand(a, env) for a in container.get("args", [])]
    return argv, env


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


def iter_jobs(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (d for d in documents if d.get("kind") == "Job")


def only(items: list[Any], what: Callable[[Any], bool]) -> Any:
    found = [i for i in items if what(i)]
    assert len(found) == 1, found
    return found[0]
