"""The thin layer over the official ``kubernetes`` Python client (``jobspec[kubernetes]``):
credentials, a `Session` with the API server, and its calls. The client library
itself is imported only when a server is actually talked to.

Objects travel as plain dicts both ways (bodies are the manifests as built; answers
are read with ``_preload_content=False`` and decoded here), so this layer works
the same across client versions. Credentials live in the `Session`'s client
configuration only: no message, log line or result of this module holds a token.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobspec.plugin import TransformerError
from jobspec.transformers.kubernetes.outcome import job_finished

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
REQUEST_TIMEOUT = (10.0, 60.0)  # connect, read (seconds) for ordinary calls
WATCH_WINDOW = 30  # seconds one watch request lasts before it is renewed
MIN_WATCH_SECONDS = 0.25  # a watch ending sooner (no event) is renewed only after this long
INSTALL_HINT = (
    "the kubernetes transformer needs the Kubernetes Python client: pip install 'kubernetes>=29' "
    "(or, in a checkout of jobspec, pip install -e '.[kubernetes]')"
)


class KubeError(TransformerError):
    """The API server refused, or could not be reached; the message is for the user.
    ``status`` is the HTTP status the server answered, if it answered."""

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
