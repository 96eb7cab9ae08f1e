"""A Flux job's state, read from its main eventlog (RFC 21) or its result.

Both clients give the same answer because both end here: the bindings read the
eventlog over RPC, the command client reads ``flux job eventlog --format=json``.
The result is computed the way flux-core's ``flux_job_result(3)`` does it
(src/common/libjob/result.c): the ``alloc`` event means the job ran, ``finish``
carries the wait status, the most severe ``exception`` names the cause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jobspec.plugin import JobStatus

COMPLETED, FAILED, CANCELED, TIMEOUT = 1, 2, 4, 8
RESULT_NAMES = {COMPLETED: "COMPLETED", FAILED: "FAILED", CANCELED: "CANCELED", TIMEOUT: "TIMEOUT"}


def parse_eventlog(text: str) -> list[dict[str, Any]]:
    """The entries of an eventlog: one JSON object a line (RFC 18)."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            entry = json.loads(line)
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def exit_code(waitstatus: int | None) -> int | None:
    """A wait(2) status as a shell shows it: the exit code, or 128 + the signal."""
    if waitstatus is None or waitstatus < 0:
        return None
    signal = waitstatus & 0x7F
    if signal == 0:
        return (waitstatus >> 8) & 0xFF
    return 128 + signal


def result_from_events(job_id: int, entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The job's result object as flux_job_result(3) builds it from the eventlog."""
    result: dict[str, Any] = {"id": job_id, "exception_occurred": False}
    for entry in entries:
        name = entry.get("name")
        context = entry.get("context") or {}
        timestamp = entry.get("timestamp")
        if name == "submit":
            result["t_submit"] = timestamp
        elif name == "alloc":
            result["t_run"] = timestamp
        elif name == "finish":
            result["t_cleanup"] = timestamp
            result["waitstatus"] = context.get("status")
        elif name == "exception":
            severity = context.get("severity", 0)
            previous = result.get("exception_severity", -1) if result["exception_occurred"] else -1
            # a later exception replaces the earlier one unless it is less severe
            if previous > 0 and previous < severity:
                continue
            result.update(
                exception_occurred=True,
                exception_type=context.get("type"),
                exception_note=context.get("note", ""),
                exception_severity=severity,
            )
    result["result"] = _result_code(result)
    return result


def _result_code(result: Mapping[str, Any]) -> int:
    t_run = result.get("t_run")
    if t_run is not None and t_run > 0 and result.get("waitstatus") == 0:
        return COMPLETED
    if result.get("exception_occurred"):
        if result.get("exception_type") == "cancel":
            return CANCELED
        if result.get("exception_type") == "timeout":
            return TIMEOUT
    return FAILED


def status_from_result(job_id: str, result: Mapping[str, Any]) -> JobStatus:
    """The final JobStatus of a job whose result is known."""
    code = result.get("result")
    if code is None:
        code = _result_code(result)
    exit = exit_code(result.get("waitstatus"))
    details = {
        k: result[k]
        for k in ("t_submit", "t_run", "t_cleanup", "waitstatus", "exception_type", "exception_note")
        if result.get(k) is not None
    }
    details["result"] = RESULT_NAMES.get(code, str(code))
    reason = None
    if code == COMPLETED:
        state = "completed"
    elif code == CANCELED:
        state = "cancelled"
        reason = _exception_text(result) or "cancelled"
    elif code == TIMEOUT:
        state = "failed"
        reason = "time limit reached" + (f" ({result['exception_note']})" if result.get("exception_note") else "")
    else:
        state = "failed"
        reason = _exception_text(result)
    return JobStatus(job_id, state, exit, "flux", reason, details)


def _exception_text(result: Mapping[str, Any]) -> str | None:
    if not result.get("exception_occurred"):
        return None
    kind = result.get("exception_type") or "exception"
    note = result.get("exception_note")
    return f"{kind}: {note}" if note else kind


def status_from_events(job_id: str, entries: Iterable[Mapping[str, Any]]) -> JobStatus:
    """The JobStatus a job's main eventlog shows now (final or not)."""
    entries = list(entries)
    names = {e.get("name") for e in entries}
    result = result_from_events(0, entries)
    fatal = result["exception_occurred"] and result.get("exception_severity", 0) == 0
    if "clean" in names or "finish" in names or (fatal and "start" not in names):
        return status_from_result(job_id, result)
    details = {k: result[k] for k in ("t_submit", "t_run") if result.get(k) is not None}
    if "alloc" in names or "start" in names:
        return JobStatus(job_id, "running", None, "flux", None, details)
    reason = None
    for entry in entries:  # why it waits, when Flux says (dependencies, priority)
        if entry.get("name") == "dependency-add":
            reason = f"waiting for {(entry.get('context') or {}).get('description', 'a dependency')}"
        elif entry.get("name") == "dependency-remove":
            reason = None
    return JobStatus(job_id, "pending", None, "flux", reason, details)
