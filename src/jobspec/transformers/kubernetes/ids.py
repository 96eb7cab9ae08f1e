"""Job ids: ``k8s:<namespace>/<job name>``.

The prefix tells them from local, Flux and Slurm ids at a glance, and the id alone
finds the Job from any process.
"""

from __future__ import annotations

import re

from jobspec.plugin import JobLookupError
from jobspec.transformers.kubernetes.manifests import MAX_NAME

ID_PREFIX = "k8s:"
_JOB_ID = re.compile(r"k8s:([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-a-z0-9]*[a-z0-9])?)")


def job_id(namespace: str, name: str) -> str:
    return f"{ID_PREFIX}{namespace}/{name}"


def is_job_id(text: str) -> bool:
    return _JOB_ID.fullmatch(text) is not None


def parse_job_id(text: str) -> tuple[str, str]:
    """``k8s:<namespace>/<name>`` -> (namespace, name); JobLookupError otherwise."""
    found = _JOB_ID.fullmatch(text)
    if found is None or len(found.group(1)) > MAX_NAME or len(found.group(3)) > MAX_NAME:
        raise JobLookupError(f"'{text}' is not a Kubernetes job id (they look like k8s:<namespace>/<job name>)")
    return found.group(1), found.group(3)
