"""What the Kubernetes transformer's output must satisfy, written independently of it:
the oracles of the Kubernetes tests (the fake cluster they run against is in
`k8s_cluster`).

- `EXPECTED`: what each example's Jobs end as on Kubernetes, and why when not success.
- `api_server_problems`: the rules the API server adds on top of the OpenAPI schemas,
  written again here from the Kubernetes validation code, independent of the
  transformer's own helpers; `schema_problems`: the published schemas, strictly.
- `expand`: Kubernetes' ``$(VAR)`` expansion of command, args and env values (a port
  of ``third_party/forked/golang/expansion``), and `container_view`: the argv and
  environment a pod receives.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

from support import project_examples, seed_examples

SEED_EXAMPLES = seed_examples()  # the original 0.0.12 examples
PROJECT_EXAMPLES = project_examples()
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


def iter_jobs(documents: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return (d for d in documents if d.get("kind") == "Job")
