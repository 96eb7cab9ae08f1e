"""The thin layer over the official ``kubernetes`` Python client (``jobspec[kubernetes]``),
imported only when a Kubernetes API server is actually talked to.

Objects travel as plain dicts both ways (bodies are the manifests as built; answers
are read with ``_preload_content=False`` and decoded here), so this layer works
the same across client versions. Credentials live in the `Session`'s client
configuration only: no message, log line or result of this module holds a token.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from jobspec.transformers.kubernetes.manifests import COMPLETION_INDEX

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT = (10.0, 60.0)  # connect, read (seconds) for ordinary calls
WATCH_WINDOW = 30  # seconds one watch request lasts before it is renewed
MIN_WATCH_SECONDS = 0.25  # a watch ending sooner (no event) is renewed only after this long
LOG_DRAIN_SECONDS = 30.0  # after a Job ends, how long its pods' log streams may take to finish
POLL_SECONDS = 1.0  # how often pods are looked at while a Job is followed
MAX_LOG_STREAMS = 32  # pods whose logs are followed at once; the others wait their turn
INSTALL_HINT = "the kubernetes transformer needs the Kubernetes Python client: pip install 'jobspec[kubernetes]'"


class KubeError(RuntimeError):
    """The API server refused, or could not be reached; the message is for the user."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _client() -> Any:
    try:
        import kubernetes.client
        import kubernetes.config
        import kubernetes.watch
    except ImportError:
        raise KubeError(INSTALL_HINT) from None
    return kubernetes


# ---------------------------------------------------------------------------- connecting


def default_kubeconfig() -> str | None:
    """$KUBECONFIG (read now, not when the client was imported), else ~/.kube/config if it exists."""
    env = os.environ.get("KUBECONFIG")
    if env:
        return env
    home = Path("~/.kube/config").expanduser()
    return str(home) if home.is_file() else None


def in_cluster() -> bool:
    """Inside a pod with a service account (what load_incluster_config needs)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT_DIR / "token").is_file()


@dataclass
class Credentials:
    """How to reach the API server. ``token`` is a secret: it is never shown."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool | None = None  # None: when there is no kubeconfig
    token: str | None = field(default=None, repr=False)
    token_env: str | None = None  # where the token came from (shown instead of it)
    server: str | None = None
    certificate_authority: str | None = None


def connect(credentials: Credentials | None = None, namespace: str | None = None) -> Session:
    """A session with the API server; ``namespace`` None takes the kubeconfig context's
    namespace, else the service account's, else ``default``. Talks to nobody yet."""
    k8s = _client()
    creds = credentials or Credentials()
    config = k8s.client.Configuration
    cfg = type.__call__(config)  # a fresh configuration, not a copy of a process-wide default
    kubeconfig = creds.kubeconfig or (None if creds.in_cluster else default_kubeconfig())
    origin: str
    context_namespace: str | None = None
    try:
        if kubeconfig and not creds.in_cluster and not (creds.token and creds.server):
            k8s.config.load_kube_config(
                config_file=kubeconfig, context=creds.context, client_configuration=cfg, persist_config=False
            )
            context_namespace = _context_namespace(k8s, kubeconfig, creds.context)
            origin = f"kubeconfig {kubeconfig}" + (f" (context {creds.context})" if creds.context else "")
        elif creds.in_cluster or (creds.in_cluster is None and in_cluster() and not creds.server):
            k8s.config.load_incluster_config(client_configuration=cfg)
            context_namespace = _service_account_namespace()
            origin = "the pod's service account"
        elif creds.token and creds.server:
            origin = "a bearer token"
        else:
            raise KubeError(
                "no Kubernetes credentials found: set KUBECONFIG (or the kubernetes.kubeconfig setting), "
                "run inside a pod with a service account, or give an auth step a token_env and server"
            )
    except KubeError:
        raise
    except Exception as e:  # the config loaders raise ConfigException, OSError, yaml errors...
        raise KubeError(f"cannot load Kubernetes credentials: {_plain(e)}") from None
    if creds.server:
        cfg.host = creds.server.rstrip("/")
    if creds.certificate_authority:
        cfg.ssl_ca_cert = creds.certificate_authority
    if creds.token:
        # the token replaces whatever the kubeconfig's user had
        cfg.api_key = {"authorization": creds.token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
        cfg.cert_file = cfg.key_file = None
        cfg.username = cfg.password = None
        cfg.refresh_api_key_hook = None
        origin = f"a bearer token from ${creds.token_env}" if creds.token_env else "a bearer token"
        if creds.server:
            origin += f" for {cfg.host}"
    cfg.debug = False  # the client's debug log would print request headers
    api = k8s.client.ApiClient(configuration=cfg)
    return Session(api, namespace or context_namespace or "default", origin, cfg.host)


def _context_namespace(k8s: Any, kubeconfig: str, context: str | None) -> str | None:
    contexts, current = k8s.config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = current
    if context is not None:
        chosen = next((c for c in contexts if c.get("name") == context), None)
    ns = ((chosen or {}).get("context") or {}).get("namespace")
    return str(ns) if ns else None


def _service_account_namespace() -> str | None:
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or None
    except OSError:
        return None


def _plain(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


# ---------------------------------------------------------------------------- the session


class Session:
    """Calls on one API server, with objects as plain dicts."""

    def __init__(self, api: Any, namespace: str, origin: str, host: str) -> None:
        k8s = _client()
        self.api = api
        self.core: Any = k8s.client.CoreV1Api(api)
        self.batch: Any = k8s.client.BatchV1Api(api)
        self._watch = k8s.watch.Watch
        self.namespace = namespace
        self.origin = origin  # how it authenticates, for messages: never the token
        self.host = host

    def __repr__(self) -> str:
        return f"<Kubernetes session {self.host} as {self.origin}, namespace {self.namespace}>"

    # -- plumbing

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the API; the decoded answer, or KubeError with the server's own words."""
        kwargs.setdefault("_preload_content", False)
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT)
        try:
            response = fn(*args, **kwargs)
        except Exception as e:
            raise self._error(what, e) from None
        data = response.data
        return json.loads(data) if data else {}

    def _error(self, what: str, e: BaseException) -> KubeError:
        status = getattr(e, "status", None)
        if isinstance(status, int) and status:
            message = getattr(e, "reason", "") or ""
            body = getattr(e, "body", None)
            try:
                parsed = json.loads(body) if body else {}
                message = parsed.get("message") or message
            except (ValueError, TypeError, AttributeError):
                pass
            return KubeError(f"cannot {what}: the API server at {self.host} answered {status}: {message}", status)
        if isinstance(e, OSError) or type(e).__module__.startswith("urllib3"):
            return KubeError(f"cannot {what}: the API server at {self.host} did not answer ({_plain(e)})")
        return KubeError(f"cannot {what}: {type(e).__name__}: {_plain(e)}")

    # -- calls

    def check(self, namespace: str | None = None) -> None:
        """Prove the credentials: a one-item list of Jobs in the namespace."""
        ns = namespace or self.namespace
        self._call(f"list Jobs in namespace {ns}", self.batch.list_namespaced_job, ns, limit=1)

    def apply_config_map(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create the ConfigMap; if it exists, merge the entries in (a run's ConfigMap
        only ever gains keys, so a merge patch is exact and needs no read first)."""
        meta = body["metadata"]
        ns = meta.get("namespace") or self.namespace
        try:
            out: dict[str, Any] = self._call(
                f"create ConfigMap {meta['name']}", self.core.create_namespaced_config_map, ns, body
            )
        except KubeError as e:
            if e.status != 409:
                raise
            patch = {k: body[k] for k in ("data", "binaryData") if k in body}
            what = f"update ConfigMap {meta['name']}"
            try:
                # clients from 37 on would send a dict as a JSON patch unless told
                out = self._call(
                    what,
                    self.core.patch_namespaced_config_map,
                    meta["name"],
                    ns,
                    patch,
                    _content_type="application/merge-patch+json",
                )
            except KubeError as e:
                if "_content_type" not in str(e):
                    raise
                # older clients take no _content_type, and send a dict as a strategic merge patch
                out = self._call(what, self.core.patch_namespaced_config_map, meta["name"], ns, patch)
        return out

    def create_job(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        out: dict[str, Any] = self._call(
            f"create Job {meta['name']}",
            self.batch.create_namespaced_job,
            meta.get("namespace") or self.namespace,
            body,
        )
        return out

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job, or None if there is none by that name."""
        try:
            out: dict[str, Any] = self._call(f"read Job {name}", self.batch.read_namespaced_job, name, namespace)
        except KubeError as e:
            if e.status == 404:
                return None
            raise
        return out

    def job_pods(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Job's pods, by the ``job-name`` label its controller gives them."""
        found = self._call(
            f"list the pods of Job {name}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"job-name={name}",
        )
        items = found.get("items") or []
        # the label selector is the server's job; checking again costs nothing
        return [p for p in items if ((p.get("metadata") or {}).get("labels") or {}).get("job-name") == name]

    def find_jobs(self, label_selector: str) -> list[dict[str, Any]]:
        """Jobs with the labels: in this session's namespace, else in every namespace (if
        the credentials may list them there)."""
        found = self._call("list Jobs", self.batch.list_namespaced_job, self.namespace, label_selector=label_selector)
        items: list[dict[str, Any]] = found.get("items") or []
        if items:
            return items
        try:
            found = self._call("list Jobs", self.batch.list_job_for_all_namespaces, label_selector=label_selector)
        except KubeError as e:
            if e.status in (401, 403, 404):
                return []
            raise
        return list(found.get("items") or [])

    def delete_job(self, namespace: str, name: str, propagation: str = "Foreground") -> bool:
        """Delete the Job and (``Foreground``: before it) its pods; False if it was not there."""
        try:
            self._call(
                f"delete Job {name}",
                self.batch.delete_namespaced_job,
                name,
                namespace,
                propagation_policy=propagation,
            )
        except KubeError as e:
            if e.status == 404:
                return False
            raise
        return True

    def pod_log(self, namespace: str, pod: str) -> Iterator[bytes]:
        """The pod's output as it comes, until its container ends."""
        try:
            # no read time-out: a task may print nothing for hours; the Follower bounds the wait
            response = self.core.read_namespaced_pod_log(pod, namespace, follow=True, _preload_content=False)
        except Exception as e:
            raise self._error(f"read the log of pod {pod}", e) from None
        try:
            yield from response.stream(amt=None, decode_content=False)
        except Exception as e:
            raise self._error(f"read the log of pod {pod}", e) from None
        finally:
            response.release_conn()

    def wait_job(
        self,
        namespace: str,
        name: str,
        timeout: float | None = None,
        on_change: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any] | None:
        """Watch the Job until it ends (or ``timeout`` seconds pass); its last state,
        or None when it is gone (deleted, or never there)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        job = self.read_job(namespace, name)
        while job is not None and not job_finished(job):
            if on_change is not None:
                on_change(job)
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return job
            window = WATCH_WINDOW if remaining is None else max(1, min(WATCH_WINDOW, int(remaining + 0.999)))
            started = time.monotonic()
            job, gone = self._watch_once(namespace, name, job, window, deadline, on_change)
            if gone:
                return None
            if not job_finished(job):
                quick = MIN_WATCH_SECONDS - (time.monotonic() - started)
                if quick > 0:  # a watch that ends at once must not become a busy loop
                    time.sleep(quick if deadline is None else max(0.0, min(quick, deadline - time.monotonic())))
                job = self.read_job(namespace, name)  # the watch ended: start again from a fresh read
        return job

    def _watch_once(
        self,
        namespace: str,
        name: str,
        job: dict[str, Any],
        window: int,
        deadline: float | None,
        on_change: Callable[[dict[str, Any]], None] | None,
    ) -> tuple[dict[str, Any], bool]:
        read_timeout = float(window + 5)  # the server ends the watch after window seconds
        if deadline is not None:  # and the caller's deadline holds even if it does not
            read_timeout = max(0.1, min(read_timeout, deadline - time.monotonic() + 0.5))
        kwargs: dict[str, Any] = {
            "field_selector": f"metadata.name={name}",
            "timeout_seconds": window,
            "_request_timeout": (REQUEST_TIMEOUT[0], read_timeout),
        }
        version = (job.get("metadata") or {}).get("resourceVersion")
        if version and version.isdigit():
            kwargs["resource_version"] = version
        watch = self._watch()
        try:
            for event in watch.stream(self.batch.list_namespaced_job, namespace, **kwargs):
                obj = event.get("raw_object") or {}
                if event.get("type") == "ERROR":
                    break  # an expired resource version, say: read again
                if (obj.get("metadata") or {}).get("name") != name:
                    continue
                if event.get("type") == "DELETED":
                    return job, True
                job = obj
                if job_finished(job):
                    break
                if on_change is not None:
                    on_change(job)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except Exception as e:
            status = getattr(e, "status", None)
            if isinstance(status, int) and status and status != 410:
                raise self._error(f"watch Job {name}", e) from None
            # a read time-out or a dropped connection ends this window; the caller reads again
        finally:
            watch.stop()
        return job, False


# ---------------------------------------------------------------------------- reading a Job


def job_finished(job: dict[str, Any]) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def pod_index(pod: dict[str, Any]) -> int | None:
    meta = pod.get("metadata") or {}
    for table in (meta.get("annotations") or {}, meta.get("labels") or {}):
        value = table.get(COMPLETION_INDEX)
        if value is not None and str(value).isdigit():
            return int(value)
    return None


def pod_exit_code(pod: dict[str, Any]) -> int | None:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (status.get("state") or {}).get("terminated")
        if terminated and terminated.get("exitCode") is not None:
            return int(terminated["exitCode"])
    return None


@dataclass
class Outcome:
    """A Job's state in jobspec's words (as `JobStatus` takes it)."""

    state: str  # pending, running, completed, failed
    exit_code: int | None
    reason: str | None
    details: dict[str, Any]


def job_outcome(job: dict[str, Any], pods: list[dict[str, Any]] | None = None) -> Outcome:
    """What a Job and its pods say: completed only when the Job says Complete."""
    status = job.get("status") or {}
    spec = job.get("spec") or {}
    true = {c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"}
    codes: dict[int, int] = {}
    for pod in pods or []:
        index, code = pod_index(pod), pod_exit_code(pod)
        if index is not None and code is not None:
            codes[index] = max(code, codes.get(index, code))
    details: dict[str, Any] = {
        "tasks": spec.get("completions"),
        "succeeded": status.get("succeeded", 0),
        "failed": status.get("failed", 0),
        "active": status.get("active", 0),
    }
    if codes:
        details["task_exit_codes"] = [codes.get(i) for i in range(max(codes) + 1)]
    for key in ("startTime", "completionTime"):
        if status.get(key):
            details[key] = status[key]
    worst = max(codes.values()) if codes else None
    if "Complete" in true:
        return Outcome("completed", worst or 0, None, details)
    if "Failed" in true:
        cond = true["Failed"]
        why = cond.get("reason") or ""
        if why == "DeadlineExceeded":
            reason = f"time limit of {spec.get('activeDeadlineSeconds')} s reached"
        elif why == "BackoffLimitExceeded":
            failed = status.get("failed", 0) or sum(1 for c in codes.values() if c != 0) or 1
            reason = f"{failed} task{'s' if failed != 1 else ''} failed"
        else:
            reason = ": ".join(p for p in (why, cond.get("message") or "") if p) or "the Job failed"
        return Outcome("failed", worst if worst else None, reason, details)
    if status.get("active") or status.get("ready"):
        return Outcome("running", None, None, details)
    return Outcome("pending", None, None, details)


# ---------------------------------------------------------------------------- following a Job

_STUCK = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff")


def pod_trouble(pod: dict[str, Any]) -> str | None:
    """Why a pod is not getting anywhere (a bad image, no node fits), or None."""
    status = pod.get("status") or {}
    for c in status.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _STUCK:
            return f"{waiting['reason']}: {waiting.get('message') or ''}".rstrip(": ")
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False" and cond.get("reason"):
            return f"{cond['reason']}: {cond.get('message') or ''}".rstrip(": ")
    return None


def pod_started(pod: dict[str, Any]) -> bool:
    """Whether the pod's container has started (so it has a log to read)."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Running", "Succeeded", "Failed"):
        return True
    return any(
        (c.get("state") or {}).get("running") or (c.get("state") or {}).get("terminated")
        for c in status.get("containerStatuses") or []
    )


class Follower:
    """Looks at a Job's pods while it runs: streams each pod's log to ``out`` (whole
    lines, one writer at a time) and reports pods that are stuck, once each."""

    def __init__(
        self,
        session: Session,
        namespace: str,
        name: str,
        out: TextIO | None,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.session, self.namespace, self.name = session, namespace, name
        self.out, self.note = out, note
        self.lock = threading.Lock()  # one writer at a time
        self.guard = threading.Lock()  # the streams and the waiting list
        self.streams: dict[str, threading.Thread] = {}
        self.waiting: list[str] = []  # started pods whose log is not streamed yet
        self.noted: set[tuple[str, str]] = set()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._loop, name=f"follow-{name}", daemon=True)

    def __enter__(self) -> Follower:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _loop(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll()
            except KubeError as e:
                self._note(str(e))
            self.stop.wait(POLL_SECONDS)

    def poll(self) -> list[dict[str, Any]]:
        """Look at the pods once: notes for stuck ones, streams for started ones."""
        pods = self.session.job_pods(self.namespace, self.name)
        with self.guard:
            self._look(pods)
        return pods

    def _look(self, pods: list[dict[str, Any]]) -> None:
        for pod in sorted(pods, key=lambda p: pod_index(p) or 0):
            pod_name = (pod.get("metadata") or {}).get("name")
            if not pod_name:
                continue
            trouble = pod_trouble(pod)
            if trouble and (pod_name, trouble) not in self.noted:
                self.noted.add((pod_name, trouble))
                self._note(f"pod {pod_name}: {trouble}")
            new = pod_name not in self.streams and pod_name not in self.waiting
            if self.out is not None and new and pod_started(pod):
                self.waiting.append(pod_name)
        self._start_streams()

    def _start_streams(self) -> None:
        """Start log streams for started pods, at most MAX_LOG_STREAMS at a time."""
        running = sum(1 for t in self.streams.values() if t.is_alive())
        while self.waiting and running < MAX_LOG_STREAMS:
            pod_name = self.waiting.pop(0)
            thread = threading.Thread(target=self._stream, args=(pod_name,), name=f"log-{pod_name}", daemon=True)
            self.streams[pod_name] = thread
            thread.start()
            running += 1

    def _stream(self, pod: str) -> None:
        pending = b""
        try:
            for chunk in self.session.pod_log(self.namespace, pod):
                pending += chunk
                if b"\n" in pending:
                    whole, _, pending = pending.rpartition(b"\n")
                    self._write(whole + b"\n")
        except KubeError as e:
            self.errors.append(str(e))
            self._note(str(e))
        finally:
            if pending:
                self._write(pending + b"\n")

    def _write(self, data: bytes) -> None:
        assert self.out is not None
        with self.lock:
            self.out.write(data.decode("utf-8", "replace"))
            self.out.flush()

    def _note(self, text: str) -> None:
        if self.note is not None:
            with self.lock:
                self.note(text)

    def finish(self, drain: float = LOG_DRAIN_SECONDS) -> None:
        """Stop looking; start streams for pods not seen yet (their logs are complete
        by now) and let every stream reach its end, for at most ``drain`` seconds."""
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        try:
            self.poll()
        except KubeError as e:
            self._note(str(e))
        deadline = time.monotonic() + drain
        while time.monotonic() < deadline:
            with self.guard:
                self._start_streams()
            alive = [t for t in self.streams.values() if t.is_alive()]
            if not alive and not self.waiting:
                break
            if alive:
                alive[0].join(min(0.05, max(0.0, deadline - time.monotonic())))
