"""Without the Kubernetes client library, a run stops before its first step, saying how to get it."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from support import HELLO, make_jobspec

from jobspec.engine.plan import plan
from jobspec.engine.run import Reporter, execute
from jobspec.plugin import TransformerUnavailable
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer


def test_a_missing_client_is_found_before_the_first_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # credentials at hand: only the library is missing
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # as if not installed
    stage = tmp_path / "stage"
    text = HELLO.replace("  transform:\n", f"  transform:\n  - step: set\n    key: stage\n    value: {stage}\n")
    the_plan = plan(make_jobspec(tmp_path, text), KubernetesTransformer())
    steps = io.StringIO()
    with pytest.raises(TransformerUnavailable, match=r"pip install 'kubernetes>=29'"):
        execute(the_plan, Reporter(stream=steps))
    assert steps.getvalue() == "" and not stage.exists()  # no step ran, nothing was written
