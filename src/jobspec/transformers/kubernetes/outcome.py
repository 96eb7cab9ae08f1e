"""What a Job and its pods say, in jobspec's words: its state, its tasks' exit codes,
and why a pod is not getting anywhere. Pure: reads the objects as the API gives them."""

from __future__ import annotations

from typing import Any

from jobspec.plugin import JobStatus
from jobspec.transformers.kubernetes.manifests import COMPLETION_INDEX

TRANSFORMER = "kubernetes"
# container waiting reasons that mean the pod will not start by itself
_STUCK = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CrashLoopBackOff")


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


def job_outcome(job: dict[str, Any], pods: list[dict[str, Any]] | None = None, job_id: str = "") -> JobStatus:
    """What a Job and its pods say: completed only when the Job says Complete; the
    worst exit code of its tasks, and each task's in ``details["task_exit_codes"]``."""
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
        return JobStatus(job_id, "completed", worst or 0, TRANSFORMER, None, details)
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
        return JobStatus(job_id, "failed", worst if worst else None, TRANSFORMER, reason, details)
    state = "running" if status.get("active") or status.get("ready") else "pending"
    return JobStatus(job_id, state, None, TRANSFORMER, None, details)


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
