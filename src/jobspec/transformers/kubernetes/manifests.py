"""What the Kubernetes transformer sends: the run's ConfigMap and one ``batch/v1`` Job
per submit or batch step, as plain dicts. Pure: no client, no network, no clock.

Names. Kubernetes wants DNS-1123 labels (lowercase letters, digits and ``-``, at most
63 characters); `dns_label` turns any text into one predictably, and `RunNames` builds
every name of a run from the jobspec's name and a short run id::

    ConfigMap  <name>-<run id>                      my-job-k3x9q
    Job        <name>-<run id>-<step #>[-<step name>]  my-job-k3x9q-2-install

The names as written stay in the ``jobspec/name`` and ``jobspec/step-name`` annotations.

Files. Each file a write or copy step puts in the stage becomes one ConfigMap entry
under a key derived from its path (`config_map_key`: ``/`` and every character a key
may not hold become ``_XX`` hex escapes, so the mapping is one to one); the Job's
volume lists the files with ``items`` (key -> path, mode), which restores the layout
and the executable bits under the staging path.

Literal text. Kubernetes expands ``$(NAME)`` in a container's command, args and env
values; `literal` doubles every ``$`` so the pod receives exactly what was written.
Commands are argv lists, never shell strings.
"""

from __future__ import annotations

import base64
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobspec.document.dump import dump_yaml
from jobspec.transformers.kubernetes.pod_resources import PodResources

DEFAULT_IMAGE = "ubuntu:22.04"  # has /bin/bash, coreutils and hostname: the original 0.0.12 examples' scripts need them
DEFAULT_STAGE = "/jobspec"  # where the ConfigMap is mounted when the stage setting is unset
CONFIG_MAP_LIMIT = 1024 * 1024  # the API server's limit on a ConfigMap's data + binaryData
MAX_NAME = 63  # a DNS-1123 label; also the most a label value may hold
MAX_KEY = 253  # a ConfigMap key
MAX_INDEXED_COMPLETIONS = 100_000  # the API server's limit for Indexed Jobs
STEP_NAME_PART = 20  # at most this much of a step's name goes into a Job's name

LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_RUN = "jobspec/run"
LABEL_STEP = "jobspec/step"
LABEL_SUBMIT_KEY = "jobspec/submit-key"  # a hash of a resumable run's key for the step (see key_label)
ANNOTATION_NAME = "jobspec/name"
ANNOTATION_STEP_NAME = "jobspec/step-name"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
CONTAINER_NAME = "task"
STAGE_VOLUME = "stage"

_RUN_ID_ALPHABET = string.ascii_lowercase + string.digits
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_KEY_SAFE = frozenset(string.ascii_letters + string.digits + "-.")
# what the API server accepts as an environment variable name everywhere (IsEnvVarName)
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
# an image reference: [host[:port]/]path[:tag][@digest], the path in lower case
_IMAGE = re.compile(
    r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?"
)


# ---------------------------------------------------------------------------- names


def is_dns_label(text: str) -> bool:
    return len(text) <= MAX_NAME and _DNS_LABEL.fullmatch(text) is not None


def dns_label(text: str, limit: int = MAX_NAME, fallback: str = "job") -> str:
    """``text`` as a DNS-1123 label of at most ``limit`` characters, predictably:
    accents dropped, lower case, every run of other characters one ``-``, cut at
    ``limit``, no ``-`` at either end; ``fallback`` when nothing is left."""
    import unicodedata  # here, not at import: `jobspec run` asks every transformer whether it fits

    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    label = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    label = label[:limit].rstrip("-")
    return label or fallback[:limit]


def new_run_id(key_prefix: str | None = None) -> str:
    """Five lowercase letters and digits: random, so a run's names do not clash with
    another's; or, for a resumable run, from its key, so a resumed run keeps its names."""
    import hashlib
    import secrets

    if key_prefix is None:
        return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(5))
    number = int.from_bytes(hashlib.sha256(key_prefix.encode("utf-8")).digest()[:8], "big")
    out = []
    for _ in range(5):
        number, digit = divmod(number, len(_RUN_ID_ALPHABET))
        out.append(_RUN_ID_ALPHABET[digit])
    return "".join(out)


def key_label(key: str) -> str:
    """A resumable run's submit key as a label value (any key: a hash of it)."""
    import hashlib

    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


@dataclass(frozen=True)
class RunNames:
    """Every Kubernetes name of one run, from the jobspec's name and the run id."""

    original: str  # the jobspec's name as written
    run_id: str

    @property
    def base(self) -> str:
        return dns_label(self.original)

    @property
    def renamed(self) -> bool:
        """Whether the name as written is not already a valid Kubernetes name."""
        return self.base != self.original

    @property
    def run(self) -> str:
        """The run's name: its ConfigMap's name and its ``jobspec/run`` label."""
        head = self.base[: MAX_NAME - len(self.run_id) - 1].rstrip("-")
        return f"{head}-{self.run_id}"

    def job(self, index: int, step_name: str | None = None, tasks: int = 1, element: int | None = None) -> str:
        """The Job of the step at ``index`` (0-based), or of one ``element`` of its array.
        Leaves room for the pods' host names (``<job>-<completion index>``), which must be
        DNS labels too."""
        limit = MAX_NAME - len(f"-{max(tasks, 1) - 1}")
        tail = f"-{self.run_id}-{index + 1}" + (f"-a{element}" if element is not None else "")
        if step_name:
            tail += "-" + dns_label(step_name, STEP_NAME_PART, fallback="step")
        head = self.base[: max(0, limit - len(tail))].rstrip("-")
        return f"{head}{tail}" if head else tail[1:]


def renaming(original: str | None, name: str) -> str | None:
    """``'My_Job' -> 'my-job'`` when ``original`` had to change to become ``name``, else None."""
    if original is None or dns_label(original) == original:
        return None
    return f"{original!r} -> {dns_label(original)!r}"


# ---------------------------------------------------------------------------- literal values


def literal(text: str) -> str:
    """``text`` as Kubernetes must be given it to pass it on unchanged: it expands
    ``$(VAR)`` in command, args and env values, and ``$$`` is its escape for ``$``."""
    return text.replace("$", "$$")


def env_name_problem(name: str) -> str | None:
    """Why the API server would refuse ``name`` as an environment variable, or None."""
    if _ENV_NAME.fullmatch(name):
        return None
    return (
        f"{name!r} is not a name Kubernetes accepts for an environment variable "
        "(letters, digits, '_', '-' and '.', not starting with a digit)"
    )


def image_problem(image: str) -> str | None:
    """Why ``image`` is not a container image reference, or None."""
    if not image:
        return f"kubernetes.image is empty: name a container image (the default is {DEFAULT_IMAGE})"
    if _IMAGE.fullmatch(image) is None or len(image) > 4096:
        return (
            f"kubernetes.image {image!r} is not a container image reference "
            "(like ubuntu:22.04 or registry.example.com/team/tool@sha256:...; the path in lower case)"
        )
    return None


# ---------------------------------------------------------------------------- files


def config_map_key(path: str) -> str:
    """The ConfigMap key of a path in the stage: letters, digits, ``-`` and ``.`` stay;
    every other character (``/`` and ``_`` among them) becomes ``_XX`` per UTF-8 byte,
    and so does a leading ``.`` (keys may not start with ``..``). One to one."""
    out: list[str] = []
    for i, ch in enumerate(path):
        if ch in _KEY_SAFE and not (i == 0 and ch == "."):
            out.append(ch)
        else:
            out.extend(f"_{b:02X}" for b in ch.encode("utf-8"))
    return "".join(out)


def path_problem(path: str) -> str | None:
    """Why a file at ``path`` cannot be projected from a ConfigMap, or None."""
    key = config_map_key(path)
    if len(key) > MAX_KEY:
        return f"'{path}' is too long for a ConfigMap key ({len(key)} characters as {key[:40]}..., at most {MAX_KEY})"
    if path.startswith(".."):
        return f"'{path}' starts with '..', which Kubernetes does not allow in a projected file's path"
    return None


@dataclass(frozen=True)
class StagedFile:
    path: str  # inside the stage
    key: str  # its ConfigMap key
    data: bytes
    mode: int


@dataclass
class FileSet:
    """The files of one run's ConfigMap, in the order write and copy steps put them.

    ``published`` is what the ConfigMap holds (once created it only grows): a path
    rewritten with other content after a Job mounted it gets a new key
    (``<key>_v2``), so running pods never see a file change under them.
    """

    files: dict[str, StagedFile] = field(default_factory=dict)
    published: dict[str, bytes] = field(default_factory=dict)

    def put(self, path: str, data: bytes, mode: int) -> StagedFile:
        base = config_map_key(path)
        key, version = base, 1
        while key in self.published and self.published[key] != data:
            version += 1
            key = f"{base}_v{version}"
        staged = StagedFile(path, key, data, mode)
        self.files.pop(path, None)  # a rewritten file moves to the end, as written last
        self.files[path] = staged
        return staged

    def content(self) -> dict[str, bytes]:
        """What the ConfigMap must hold now: everything published, and the current files."""
        out = dict(self.published)
        out.update((f.key, f.data) for f in self.files.values())
        return out

    @property
    def pending(self) -> bool:
        return self.content() != self.published

    def publish(self) -> None:
        self.published = self.content()

    def size(self) -> int:
        return sum(len(v) for v in self.content().values())

    def limit_problem(self) -> str | None:
        size = self.size()
        if size <= CONFIG_MAP_LIMIT:
            return None
        return (
            f"the files written and copied into the stage come to {_size(size)}, more than a ConfigMap "
            f"holds ({_size(CONFIG_MAP_LIMIT)}); the kubernetes transformer carries the stage in one "
            "ConfigMap: put large inputs in the container image or a volume instead"
        )

    def items(self) -> list[dict[str, Any]]:
        """The volume's projection: each current file at its path, with its mode."""
        return [{"key": f.key, "path": f.path, "mode": f.mode} for f in self.files.values()]


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.2f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def config_map(
    name: str,
    content: Mapping[str, bytes],
    namespace: str | None = None,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A ConfigMap holding ``content``: UTF-8 text in ``data``, anything else in ``binaryData``."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    for key, value in content.items():
        try:
            data[key] = value.decode("utf-8")
        except UnicodeDecodeError:
            binary[key] = base64.b64encode(value).decode("ascii")
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, labels, annotations),
    }
    if data:
        manifest["data"] = data
    if binary:
        manifest["binaryData"] = binary
    return manifest


# ---------------------------------------------------------------------------- the Job


@dataclass(frozen=True)
class JobRequest:
    """Everything one Job is made of, in the jobspec's terms."""

    name: str
    image: str
    command: Sequence[str]
    tasks: int  # pods, one per task, each with its completion index as rank
    pod: PodResources  # what each pod asks for (requests and limits)
    stage: str  # where the ConfigMap is mounted
    cwd: str
    env: Mapping[str, str] = field(default_factory=dict)  # the user's: attributes.system.environment
    jobspec_env: Mapping[str, str] = field(default_factory=dict)  # jobspec's own (JOBSPEC_STAGE, ...)
    duration: float | None = None
    namespace: str | None = None  # None: kubectl's (or the client's) current namespace
    config_map: str | None = None
    items: Sequence[Mapping[str, Any]] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    submit_key: str | None = None  # a resumable run's key for this step: found again by it
    affinity: Mapping[str, Any] | None = None  # the nodes the pods may run on (`node_affinity`)


def rank_env(name: str) -> dict[str, Any]:
    """An environment variable holding the pod's completion index: its task rank."""
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}}


def job_env(request: JobRequest) -> list[dict[str, Any]]:
    """The user's environment, then jobspec's: rank and count as the local transformer sets them."""
    ours: list[dict[str, Any]] = [
        {"name": "JOBSPEC_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        # the one deliberate expansion: the namespace is known in the pod, not always here
        {"name": "JOBSPEC_JOB_ID", "value": f"k8s:$(JOBSPEC_NAMESPACE)/{request.name}"},
        rank_env("JOBSPEC_TASK_RANK"),
        {"name": "JOBSPEC_TASK_COUNT", "value": str(request.tasks)},
        rank_env("FLUX_TASK_RANK"),  # scripts written for Flux (the original 0.0.12 examples among them) read this one
    ]
    ours += [{"name": k, "value": literal(v)} for k, v in request.jobspec_env.items()]
    taken = {e["name"] for e in ours}
    user = [{"name": k, "value": literal(v)} for k, v in request.env.items() if k not in taken]
    return user + ours


def job(request: JobRequest) -> dict[str, Any]:
    """The ``batch/v1`` Job: Indexed, one pod per task, nothing retried."""
    resources = request.pod.quantities()
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": request.image,
        "command": [literal(arg) for arg in request.command],
        "workingDir": request.cwd,  # not expanded by Kubernetes: passed as is
        "env": job_env(request),
        "resources": {"requests": dict(resources), "limits": dict(resources)},
    }
    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if request.affinity is not None:
        pod_spec["affinity"] = dict(request.affinity)
    if request.config_map is not None:
        container["volumeMounts"] = [{"name": STAGE_VOLUME, "mountPath": request.stage, "readOnly": True}]
        pod_spec["volumes"] = [
            {
                "name": STAGE_VOLUME,
                "configMap": {"name": request.config_map, "items": [dict(i) for i in request.items]},
            }
        ]
    spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": request.tasks,
        "parallelism": request.tasks,
        "backoffLimit": 0,
    }
    if request.duration:
        spec["activeDeadlineSeconds"] = max(1, math.ceil(request.duration))
    spec["template"] = {
        "metadata": _metadata(None, None, request.labels, request.annotations),
        "spec": pod_spec,
    }
    labels, annotations = dict(request.labels), dict(request.annotations)
    if request.submit_key is not None:
        labels[LABEL_SUBMIT_KEY] = key_label(request.submit_key)
        annotations[LABEL_SUBMIT_KEY] = request.submit_key
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(request.name, request.namespace, labels, annotations),
        "spec": spec,
    }


def _metadata(
    name: str | None,
    namespace: str | None,
    labels: Mapping[str, str] | None,
    annotations: Mapping[str, str] | None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if name is not None:
        meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def run_labels(names: RunNames, step_index: int | None = None) -> dict[str, str]:
    labels = {LABEL_MANAGED_BY: "jobspec", LABEL_RUN: names.run}
    if step_index is not None:
        labels[LABEL_STEP] = str(step_index + 1)
    return labels


# ---------------------------------------------------------------------------- YAML


def to_yaml(documents: Iterable[Mapping[str, Any]]) -> str:
    """Manifests as one multi-document YAML stream (each starting ``---``), as
    ``kubectl apply -f -`` reads it; scripts shown as literal blocks."""
    return dump_yaml(documents, stream=True, width=4096)
