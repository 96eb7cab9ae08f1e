"""Flux job ids (RFC 19 F58) both ways, and a job's state read from its eventlog or
result as flux-core's ``flux_job_result(3)`` computes it."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.transformers.flux import jobids, outcome


def test_f58_job_ids() -> None:
    assert jobids.encode(0) == "ƒ1"
    assert jobids.encode(57) == "ƒz"
    assert jobids.encode(58) == "ƒ21"
    assert jobids.encode(2**64 - 1) == "ƒjpXCZedGfVQ"
    for n in (1, 58**3, 123456789012345, 2**63, 2**64 - 1):
        text = jobids.encode(n)
        assert jobids.decode(text) == n
        assert jobids.decode("f" + text[1:]) == n
        assert jobids.decode(str(n)) == n and jobids.decode(hex(n)) == n
        assert jobids.is_f58(text) and jobids.is_f58("f" + text[1:])
        assert jobids.normalise("f" + text[1:]) == text
    for bad in ("", "ƒ", "ƒ0", "ƒO", "ƒl", "fI", "local-19ab-xyz", "12345", "ƒjpXCZedGfVR", "0x1g"):
        assert not jobids.is_f58(bad), bad
    for bad in ("", "ƒ0", "job", "0x", str(2**64)):
        with pytest.raises(ValueError):
            jobids.decode(bad)


def _events(*names: str, **contexts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"timestamp": 100.0 + i, "name": n, "context": contexts.get(n, {})} for i, n in enumerate(names)]


def test_outcomes_from_eventlogs() -> None:
    ok = _events("submit", "validate", "depend", "priority", "alloc", "start", "finish", "release", "free", "clean")
    ok[6]["context"] = {"status": 0}
    s = outcome.status_from_events("ƒ1", ok)
    assert (s.state, s.exit_code, s.details["result"]) == ("completed", 0, "COMPLETED")

    failed = _events("submit", "alloc", "start", "finish", "clean")
    failed[3]["context"] = {"status": 7 << 8}
    s = outcome.status_from_events("ƒ1", failed)
    assert (s.state, s.exit_code) == ("failed", 7)

    killed = _events("submit", "alloc", "start", "finish")
    killed[3]["context"] = {"status": 9}
    assert outcome.status_from_events("ƒ1", killed).exit_code == 137

    cancelled = _events("submit", "exception", "clean")
    cancelled[1]["context"] = {"type": "cancel", "severity": 0, "note": "by user"}
    s = outcome.status_from_events("ƒ1", cancelled)
    assert (s.state, s.exit_code, s.reason) == ("cancelled", None, "cancel: by user")

    timeout = _events("submit", "alloc", "start", "exception", "finish", "clean")
    timeout[3]["context"] = {"type": "timeout", "severity": 0, "note": "resource allocation expired"}
    timeout[4]["context"] = {"status": 15}
    s = outcome.status_from_events("ƒ1", timeout)
    assert (s.state, s.details["result"]) == ("failed", "TIMEOUT") and "time limit" in (s.reason or "")

    dep = _events("submit", "dependency-add", "exception", "clean")
    dep[1]["context"] = {"description": "afterok=ƒ2"}
    dep[2]["context"] = {"type": "dependency", "severity": 0, "note": "dependency ƒ2 failed"}
    s = outcome.status_from_events("ƒ1", dep)
    assert (s.state, s.reason) == ("failed", "dependency: dependency ƒ2 failed")

    waiting = _events("submit", "validate", "dependency-add")
    waiting[2]["context"] = {"description": "afterok=ƒ2"}
    s = outcome.status_from_events("ƒ1", waiting)
    assert (s.state, s.reason, s.done) == ("pending", "waiting for afterok=ƒ2", False)

    running = _events("submit", "alloc", "start")
    assert outcome.status_from_events("ƒ1", running).state == "running"

    minor = _events("submit", "alloc", "start", "exception")
    minor[3]["context"] = {"type": "test", "severity": 3, "note": ""}
    assert outcome.status_from_events("ƒ1", minor).state == "running"


def test_result_objects_as_flux_job_status_prints_them() -> None:
    result = {
        "id": 5,
        "t_submit": 1.0,
        "t_run": 2.0,
        "t_cleanup": 3.0,
        "waitstatus": 256,
        "exception_occurred": False,
        "result": 2,
    }
    s = outcome.status_from_result("ƒ6", result)
    assert (s.state, s.exit_code, s.details["result"]) == ("failed", 1, "FAILED")
    assert outcome.status_from_result("ƒ6", {**result, "waitstatus": 0, "result": 1}).state == "completed"
    assert outcome.result_from_events(5, outcome.parse_eventlog('{"timestamp":1,"name":"submit"}\n\n'))["result"] == 2
