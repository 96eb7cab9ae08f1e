"""The local transformer: real processes, a life cycle that outlives the command."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

from jobspec import run
from jobspec.engine.run import Reporter
from jobspec.transformers.local import jobs
from jobspec.transformers.local.transformer import LocalTransformer


def with_script(body: str, submit: str = "    wait: true\n", text: str = HELLO) -> str:
    text = text.replace(
        '      echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"\n',
        "".join(f"      {line}\n" for line in body.splitlines()),
    )
    return text.replace("    wait: true\n", submit)


def run_quiet(path: Path) -> tuple[object, str]:
    out = io.StringIO()
    result = run(path, "local", reporter=Reporter(stream=io.StringIO(), output=out, color=False))
    return result, out.getvalue()


def test_each_task_gets_its_rank_and_the_count(tmp_path: Path) -> None:
    result, _ = run_quiet(make_jobspec(tmp_path))
    assert result.ok  # type: ignore[attr-defined]
    job_id = result.job_ids[0]  # type: ignore[attr-defined]
    output = Path(result.stage, f"{job_id}.out").read_text()  # type: ignore[attr-defined]
    assert sorted(output.splitlines()) == ["task 0 of 2", "task 1 of 2"]
    status = LocalTransformer().status(job_id)
    assert (status.state, status.exit_code) == ("completed", 0)


def test_watch_streams_the_output_and_waits(tmp_path: Path) -> None:
    text = with_script('echo "out $JOBSPEC_TASK_RANK"\necho "err $JOBSPEC_TASK_RANK" >&2', "    watch: true\n")
    result, out = run_quiet(make_jobspec(tmp_path, text))
    assert result.ok  # type: ignore[attr-defined]
    assert sorted(out.splitlines()) == ["err 0", "err 1", "out 0", "out 1"]


def test_failing_task_fails_the_step_with_its_exit_code(tmp_path: Path) -> None:
    text = with_script('[ "$JOBSPEC_TASK_RANK" = 1 ] && exit 7\nexit 0')
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert not result.ok  # type: ignore[attr-defined]
    assert "failed with exit code 7" in result.error  # type: ignore[attr-defined]
    status = LocalTransformer().status(result.job_ids[0])  # type: ignore[attr-defined]
    assert (status.state, status.exit_code, status.details["task_exit_codes"]) == ("failed", 7, [0, 7])


def test_submit_without_waiting_returns_before_the_job_ends(tmp_path: Path) -> None:
    text = with_script("sleep 30", "")
    started = time.monotonic()
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert time.monotonic() - started < 10
    job_id = result.job_ids[0]  # type: ignore[attr-defined]
    local = LocalTransformer()
    assert local.wait(job_id, timeout=0).state in ("pending", "running")
    status = local.cancel(job_id)
    assert status.state == "cancelled"
    assert LocalTransformer().status(job_id).state == "cancelled"


def test_life_cycle_from_later_processes(tmp_path: Path) -> None:
    """status, wait and cancel work from a new `jobspec` process, as a user would use them."""
    done = jobspec_cli("run", "--json", str(make_jobspec(tmp_path, with_script("sleep 30", ""))))
    assert done.returncode == 0, done.stderr
    import json

    job_id = json.loads(done.stdout)["job_ids"][0]
    status = jobspec_cli("status", job_id)
    assert status.returncode == 0 and status.stdout.split()[:2] in ([job_id, "running"], [job_id, "pending"])
    cancel = jobspec_cli("cancel", job_id)
    assert cancel.stdout.split()[:2] == [job_id, "cancelled"], cancel.stdout + cancel.stderr
    waited = jobspec_cli("wait", job_id)
    assert waited.returncode == 1 and "cancelled" in waited.stdout


def test_wait_exit_code_follows_the_job(tmp_path: Path) -> None:
    result, _ = run_quiet(make_jobspec(tmp_path, with_script("exit 0", "")))
    ok = jobspec_cli("wait", result.job_ids[0])  # type: ignore[attr-defined]
    assert ok.returncode == 0 and "completed  exit code 0" in ok.stdout


def test_unknown_job_ids(tmp_path: Path) -> None:
    missing = jobspec_cli("status", "local-ffff-000000")
    assert missing.returncode == 2 and "no local job local-ffff-000000" in missing.stderr
    nobody = jobspec_cli("status", "what-is-this")
    assert nobody.returncode == 2 and "cannot tell whose job" in nobody.stderr


def test_time_limit_stops_the_job(tmp_path: Path) -> None:
    text = with_script("sleep 30") + "attributes:\n  system:\n    duration: 0.5\n"
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert not result.ok  # type: ignore[attr-defined]
    status = LocalTransformer().status(result.job_ids[0])  # type: ignore[attr-defined]
    assert status.state == "failed" and "time limit of 0.5 s" in (status.reason or "")


def test_environment_and_working_directory(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    text = with_script('echo "$GREETING from $(pwd)"') + (
        f'attributes:\n  system:\n    cwd: {workdir}\n    environment:\n      GREETING: "it\'s $(not run)"\n'
    )
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert result.ok  # type: ignore[attr-defined]
    out = Path(result.stage, f"{result.job_ids[0]}.out").read_text()  # type: ignore[attr-defined]
    assert out.splitlines() == [f"it's $(not run) from {workdir}"] * 2


def test_dependency_waits_for_the_earlier_job(tmp_path: Path) -> None:
    scripts = (
        "  - name: first.sh\n    content: |\n      sleep 0.3; date +%s.%N > first.done\n"
        "  - name: second.sh\n    content: |\n      test -f first.done && echo ok > second.done\n"
    )
    head = HELLO.split("  transform:")[0].replace("per_slot: 1", "total: 1")
    text = head + (
        "  transform:\n"
        "  - {step: write, filename: first.sh}\n  - {step: write, filename: second.sh}\n"
        "  - {step: submit, filename: first.sh, name: first}\n"
        "  - {step: submit, filename: second.sh, after: first, wait: true}\n"
        "  scripts:\n" + scripts
    )
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert result.ok, result.error  # type: ignore[attr-defined]
    assert Path(result.stage, "second.done").read_text() == "ok\n"  # type: ignore[attr-defined]


def test_dependency_on_a_failed_job_is_never_satisfied(tmp_path: Path) -> None:
    head = HELLO.split("  transform:")[0].replace("per_slot: 1", "total: 1")
    text = head + (
        "  transform:\n  - {step: write, filename: a.sh}\n"
        "  - {step: submit, filename: a.sh, name: first}\n"
        "  - {step: submit, filename: a.sh, after: first, wait: true}\n"
        "  scripts:\n  - name: a.sh\n    content: exit 1\n"
    )
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert not result.ok  # type: ignore[attr-defined]
    assert "dependency never satisfied" in result.error  # type: ignore[attr-defined]


def test_batch_runs_the_script_once_with_the_allocation(tmp_path: Path) -> None:
    head = HELLO.split("  transform:")[0]
    text = head + (
        "  transform:\n  - {step: write, filename: batch.sh, executable: true}\n"
        "  - {step: batch, filename: batch.sh, wait: true}\n"
        "  scripts:\n  - name: batch.sh\n    content: |\n      #!/bin/sh\n"
        '      echo "$JOBSPEC_NODES nodes $JOBSPEC_TASKS tasks rank $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"\n'
    )
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert result.ok  # type: ignore[attr-defined]
    out = Path(result.stage, f"{result.job_ids[0]}.out").read_text()  # type: ignore[attr-defined]
    assert out == "2 nodes 2 tasks rank 0 of 1\n"


def test_a_killed_supervisor_is_reported_not_left_running(tmp_path: Path) -> None:
    result, _ = run_quiet(make_jobspec(tmp_path, with_script("sleep 30", "")))
    job = jobs.LocalJob(result.job_ids[0])  # type: ignore[attr-defined]
    jobs.wait(job, timeout=5)  # until it is at least running
    deadline = time.monotonic() + 5
    while job.read_state().get("state") != "running" and time.monotonic() < deadline:
        time.sleep(0.01)
    pids = job.read_state()["pids"]
    os.kill(int((job.dir / "pid").read_text()), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while job.supervisor_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    status = LocalTransformer().status(job.id)
    assert status.state == "failed" and "supervisor ended without a result" in (status.reason or "")
    for pid in pids:
        os.killpg(pid, signal.SIGKILL)


def test_missing_interpreter_fails_with_127(tmp_path: Path) -> None:
    text = HELLO.replace("#!/bin/bash", "#!/no/such/shell")
    result, _ = run_quiet(make_jobspec(tmp_path, text))
    assert not result.ok  # type: ignore[attr-defined]
    assert "exit code 127" in result.error and "cannot start the task" in result.error  # type: ignore[attr-defined]


@pytest.mark.parametrize("ident", ["local-../../etc", "local-a/b", "../local-x"])
def test_job_ids_cannot_name_paths_outside_the_store(ident: str) -> None:
    done = jobspec_cli("status", "-t", "local", ident)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_watched_output_keeps_a_character_split_across_two_writes(tmp_path: Path) -> None:
    # "é" is two bytes in UTF-8; the job writes them a moment apart, so the follower reads them apart
    script = "printf 'caf\\303'\nsleep 0.3\nprintf '\\251 au lait\\n'"
    text = with_script(script, submit="    watch: true\n").replace("count: 2\n  with", "count: 1\n  with")
    result, out = run_quiet(make_jobspec(tmp_path, text))
    assert result.ok  # type: ignore[attr-defined]
    assert out == "café au lait\n"


def test_what_this_machine_does_not_reserve_is_warned_about(tmp_path: Path) -> None:
    extra = "    - type: gpu\n      count: 2\n    - type: memory\n      count: 2\n      unit: GB\n"
    text = HELLO.replace("      count: 2\ntask:", "      count: 2\n" + extra + "task:", 1)
    assert text != HELLO
    path = make_jobspec(tmp_path, text)
    done = jobspec_cli("run", "-t", "local", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr
    warning = "warning: local runs the tasks as processes on this machine: 4 gpus, 4096 MiB of memory not reserved"
    assert warning in done.stdout + done.stderr


def test_constraints_are_refused_here(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path, HELLO + "attributes:\n  system:\n    constraints: {properties: [intel]}\n")
    done = jobspec_cli("run", "-t", "local", str(path))
    assert done.returncode == 2
    line = len(HELLO.splitlines()) + 3
    assert f"{path}:{line}:18: attributes.system.constraints: the local transformer runs the tasks on this" in (
        done.stderr
    )
