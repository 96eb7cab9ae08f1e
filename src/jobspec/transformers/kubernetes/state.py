"""What the Kubernetes steps of one run share (``ctx.state.of(KubeRun, ...)``): the
run's names, the files of its ConfigMap, and the session with the API server (which
holds the credentials an auth step chose; their token is never shown)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from jobspec.transformers.kubernetes import manifests as mf
from jobspec.transformers.kubernetes.client import Credentials, Session, connect

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.plugin import StepContext


class KubeRun:
    """The steps' state for one run: its names, its files, its session."""

    def __init__(self, jobspec: Jobspec, key_prefix: str | None = None) -> None:
        # a resumable run's names come from its key, so a resumed run finds its Jobs
        self.names = mf.RunNames(jobspec.name, mf.new_run_id(key_prefix))
        self.files = mf.FileSet()
        self.credentials: Credentials | None = None  # set by an auth step
        self.session: Session | None = None

    def connect(self, ctx: StepContext) -> Session:
        if self.session is None:
            creds = self.credentials or Credentials(kubeconfig=ctx.settings.get("kubernetes.kubeconfig"))
            self.session = connect(creds)
        return self.session

    def namespace(self, ctx: StepContext) -> str | None:
        """The namespace: the setting in force, else (running) the kubeconfig context's or
        the service account's; None in a dry run without the setting, so that kubectl
        applies the manifests to its own current namespace."""
        configured = ctx.settings.get("kubernetes.namespace")
        if configured or ctx.dry_run:
            return str(configured) if configured else None
        return self.connect(ctx).namespace

    def labels(self, step_index: int | None = None) -> dict[str, str]:
        return mf.run_labels(self.names, step_index)


def kube_run(ctx: StepContext) -> KubeRun:
    """This run's `KubeRun`, made by the first step that asks."""
    key_prefix = None if ctx.dry_run else ctx.state.key_prefix
    return ctx.state.of(KubeRun, lambda: KubeRun(ctx.jobspec, key_prefix))


def pod_stage(settings: Mapping[str, Any]) -> str:
    """The staging directory inside the pods: the stage setting, else /jobspec."""
    return str(settings.get("stage") or mf.DEFAULT_STAGE)
