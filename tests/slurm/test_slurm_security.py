"""Issue 15, Slurm's part (items 3, 4 and 9): the REST token goes only to the configured
slurmrestd, never across a redirect, for a bounded time, and never into a job; the
document's environment is the job's and never configures sbatch; slurm.options cannot
replace the task's script; a missing cwd fails before submitting; staging stops packing
once the stage is too large to send.

Run on the real test cluster (tests/slurm/conftest.py); the fake listeners here stand
for a REST endpoint a document might name, one that redirects, and a forged answer.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import tracemalloc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from slurm_support import SUBMIT_AND_WAIT, TASK, graph, jobspec_doc, run_slurm, show, write_doc
from support import jobspec_cli

from jobspec.transformers.slurm.request import options_problem
from jobspec.transformers.slurm.script import StageTooLarge, pack
from jobspec.transformers.slurm.steps import SlurmStage

pytestmark = pytest.mark.slurm

REST = [{"step": "set", "key": "slurm.interface", "value": "rest"}]


class Listener:
    """A local HTTP endpoint that records every request (path, token header) and gives one answer."""

    def __init__(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.requests: list[tuple[str, str | None]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                listener.requests.append((self.path, self.headers.get("X-SLURM-USER-TOKEN")))
                data = json.dumps(body).encode()
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    made: list[Listener] = []
    yield made
    for listener in made:
        listener.close()


def rest_doc(tmp_path: Path, before: Sequence[dict[str, Any]] = ()) -> Path:
    transform = [*REST, *before, {"step": "set", "key": "stage", "value": str(tmp_path / "st")}, *SUBMIT_AND_WAIT]
    return write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK}))


# ---------------------------------------------------------------- item 3: the token


def test_slurm_jwt_never_reaches_a_job(
    tmp_path: Path, interface: str, slurm_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SLURM_JWT exported (the README's alternative to auth), the job sees no token,
    and srun inside it still works (with the token, srun would use it instead of munge)."""
    monkeypatch.setenv("SLURM_JWT", slurm_token)
    script = '#!/bin/sh\necho "token=${SLURM_JWT-none}"\nsrun --ntasks=1 echo srun-ok\n'
    transform = [{"step": "write", "filename": "t.sh"}, {"step": "batch", "filename": "t.sh", "wait": True}]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"t.sh": script})))
    assert result.ok, result.error
    output = Path(result.steps[-1].details["stdout"]).read_text()
    assert output == "token=none\nsrun-ok\n"
    assert slurm_token not in output


def test_a_rest_url_named_by_the_document_gets_no_token(
    tmp_path: Path,
    slurm: dict[str, str],
    slurm_token: str,
    listeners: list[Listener],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listeners.append(Listener(body={"errors": [{"error": "a listener, not slurmrestd"}]}))
    catcher = listeners[0]
    monkeypatch.setenv("SLURM_JWT", slurm_token)
    path = rest_doc(tmp_path, [{"step": "set", "key": "slurm.rest_url", "value": catcher.url}])

    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 2, done.stderr  # refused with the plan, before any step
    configured = slurm["JOBSPEC_SLURMRESTD_URL"]
    assert (
        f"slurm.rest_url '{catcher.url}' is not the REST API address configured here ({configured}), and the "
        "token goes only there: to allow it, list it in JOBSPEC_SLURM_REST_URLS (space-separated addresses)"
    ) in done.stderr
    assert catcher.requests == []
    dry = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert dry.returncode == 2 and "JOBSPEC_SLURM_REST_URLS" in dry.stderr

    # the user's configuration allows it: then it is used
    allowed = jobspec_cli("run", "-t", "slurm", str(path), env={"JOBSPEC_SLURM_REST_URLS": f"http://x {catcher.url}/"})
    assert catcher.requests == [("/slurm/v0.0.38/job/submit", slurm_token)], allowed.stderr
    assert "a listener, not slurmrestd" in allowed.stderr
    # naming the configured address itself is no change: the job runs
    monkeypatch.delenv("SLURM_JWT")
    same = rest_doc(tmp_path, [{"step": "set", "key": "slurm.rest_url", "value": configured}, {"step": "auth"}])
    result, _ = run_slurm(same)
    assert result.ok, result.error


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_with_the_token(
    code: int,
    tmp_path: Path,
    slurm: dict[str, str],
    slurm_token: str,
    listeners: list[Listener],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listeners.append(Listener(body={"errors": [], "job_id": 5}))
    elsewhere = listeners[0]
    target = f"{elsewhere.url}/slurm/v0.0.38/job/submit"
    listeners.append(Listener(status=code, body={}, headers={"Location": target}))
    redirecting = listeners[1]
    monkeypatch.setenv("JOBSPEC_SLURMRESTD_URL", redirecting.url)
    monkeypatch.setenv("SLURM_JWT", slurm_token)
    result, _ = run_slurm(rest_doc(tmp_path))
    assert result.error == (
        f"step 4 (submit) failed: Slurm's REST API at {redirecting.url} answered with a redirect (HTTP {code} to "
        f"{target}); jobspec does not follow redirects, since the token would go along: configure the address "
        "slurmrestd itself answers at"
    )
    assert len(redirecting.requests) == 1
    assert elsewhere.requests == []
    assert result.job_ids == []


def test_auth_lifespan_is_bounded(tmp_path: Path, slurm: dict[str, str]) -> None:
    path = rest_doc(tmp_path, [{"step": "auth", "lifespan": 100_000_000}])
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 2
    assert "lifespan must be at most 86400 seconds (a day), not 100000000" in done.stderr
    assert "steps completed" not in done.stderr  # refused with the plan: no token was minted
    day = rest_doc(tmp_path, [{"step": "auth", "lifespan": 86400}])
    assert jobspec_cli("run", "-t", "slurm", "--dry-run", str(day)).returncode == 0


@pytest.mark.parametrize(
    "answer",
    [
        {"errors": [], "job_id": 0},
        {"errors": [], "job_id": -4},
        {"errors": [], "job_id": "12"},
        {"errors": [], "job_id": 12.0},
        {"errors": [], "job_id": 2**40},
        {"job_id": 12},  # not slurmrestd's shape: it always says its errors
        ["job_id", 12],
        "Submitted batch job 12",
    ],
)
def test_a_forged_answer_is_no_submitted_job(
    tmp_path: Path,
    slurm: dict[str, str],
    slurm_token: str,
    listeners: list[Listener],
    monkeypatch: pytest.MonkeyPatch,
    answer: Any,
) -> None:
    listeners.append(Listener(body=answer))
    monkeypatch.setenv("JOBSPEC_SLURMRESTD_URL", listeners[0].url)
    monkeypatch.setenv("SLURM_JWT", slurm_token)
    result, _ = run_slurm(rest_doc(tmp_path))
    assert result.error is not None
    assert result.error.startswith(
        "step 4 (submit) failed: Slurm's REST API answered with no job id (so no job was submitted): "
    )
    assert result.job_ids == []


# ---------------------------------------------------------------- item 4: the environment is the job's


def job_environment(tmp_path: Path, way: str, environment: dict[str, str]) -> tuple[dict[str, str], str]:
    """The environment a job printed (``env -0``), submitted through ``way``; and its job id."""
    folder = tmp_path / way
    folder.mkdir()
    before = [{"step": "set", "key": "slurm.interface", "value": way}, *([{"step": "auth"}] if way == "rest" else [])]
    transform = [
        *before,
        {"step": "write", "filename": "env.sh"},
        {"step": "submit", "filename": "env.sh", "wait": True},
    ]
    doc = jobspec_doc(graph(0, 1, 1), transform, {"env.sh": "#!/bin/sh\nenv -0\n"}, None, {"environment": environment})
    result, _ = run_slurm(write_doc(folder, doc))
    assert result.ok, result.error
    assert not any("ld.so" in str(step.details.get("warnings")) for step in result.steps)  # sbatch loaded nothing
    printed = Path(result.steps[-1].details["stdout"]).read_bytes().decode()
    return dict(entry.split("=", 1) for entry in printed.split("\0") if entry), result.job_ids[0]


def test_the_document_environment_is_the_job_s_not_sbatch_s(
    tmp_path: Path, slurm: dict[str, str], slurm_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SBATCH_ARRAY_INX made one submit an array of 10, SBATCH_PARTITION moved the job and
    LD_PRELOAD ran inside sbatch; the user's own SBATCH_* configured it too. Now the
    variables reach the job, through either interface, and the job is the one jobspec asks for."""
    monkeypatch.setenv("SBATCH_QOS", "no-such-qos")  # the user's own input variable: not read either
    monkeypatch.setenv("SLURM_JWT", slurm_token)
    environment = {
        "SBATCH_ARRAY_INX": "0-9",
        "SBATCH_PARTITION": "small",
        "LD_PRELOAD": "/no/such/preload.so",
        "MULTI": "a,b\nc 'd' é",
    }
    seen = {}
    for way in ("cli", "rest"):
        printed, job_id = job_environment(tmp_path, way, environment)
        fields = show(job_id)
        assert (fields["Partition"], fields.get("ArrayTaskId"), fields["QOS"]) == ("debug", None, "(null)")
        assert {name: printed.get(name) for name in environment} == environment
        assert "SLURM_JWT" not in printed and "SBATCH_QOS" not in printed
        seen[way] = printed
    # the same environment either way, but for what differs between any two jobs
    differs = {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_TASK_PID", "SLURM_SRUN_COMM_PORT", "SLURM_STEP_LAUNCHER_PORT"}
    differs |= {"JOBSPEC_STAGE", "PWD"}
    cli, rest = ({k: v for k, v in env.items() if k not in differs} for env in (seen["cli"], seen["rest"]))
    assert cli == rest
    assert cli["SLURM_JOB_NAME"] == "job" and cli["PATH"] == os.environ["PATH"]


# ---------------------------------------------------------------- item 9: smaller


def test_a_bare_word_in_slurm_options_is_refused(tmp_path: Path, slurm: dict[str, str]) -> None:
    """``--comment=x evil.sh`` would have sbatch run evil.sh in place of the task's script."""
    (tmp_path / "evil.sh").write_text("#!/bin/sh\necho evil\n")
    transform = [{"step": "set", "key": "slurm.options", "value": "--comment=x evil.sh"}, *SUBMIT_AND_WAIT]
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"task.sh": TASK}))
    done = jobspec_cli("run", "-t", "slurm", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert (
        "slurm.options: 'evil.sh' is not an option nor the value of the option before it: sbatch would run it in "
        "place of the task's script (write each option as --name=value)"
    ) in done.stderr
    # a value after its option is no bare word
    assert options_problem(["--comment", "two words", "-p", "debug", "--exclusive", "-J", "n"]) is None
    for words in (
        ["--exclusive", "evil.sh"],
        ["--hold", "x"],
        ["-H", "x"],
        ["--comment=x", "--", "x"],
        ["-p", "a", "b"],
    ):
        assert options_problem(words) is not None, words


def test_a_missing_cwd_fails_before_submitting(tmp_path: Path, interface: str) -> None:
    missing = tmp_path / "no such dir"
    doc = jobspec_doc(graph(0, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}, None, {"cwd": str(missing)})
    result, _ = run_slurm(write_doc(tmp_path, doc))
    assert (
        result.error
        == f"step 2 (submit) failed: the working directory {missing} (attributes.system.cwd) does not exist"
    )
    assert result.job_ids == []


def test_staging_stops_packing_once_too_large(
    tmp_path: Path, slurm: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(6):  # 24 MB that does not compress: far past what a batch script can carry
        (data / f"part{i}").write_bytes(os.urandom(4 * 1024 * 1024))
    transform = [
        {"step": "set", "key": "sharedfs", "value": False},
        {"step": "copy", "source": "data"},
        {"step": "stage"},
        *SUBMIT_AND_WAIT,
    ]
    peaks: list[int] = []
    real = SlurmStage.stage

    def measured(step: SlurmStage, ctx: Any) -> Any:  # the stage step's own peak, not the copy's
        tracemalloc.reset_peak()
        try:
            return real(step, ctx)
        finally:
            peaks.append(tracemalloc.get_traced_memory()[1])

    monkeypatch.setattr(SlurmStage, "stage", measured)
    tracemalloc.start()
    try:
        result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK})))
    finally:
        tracemalloc.stop()
    assert result.error == (
        "step 3 (stage) failed: the staged files come to more than 2.9 MB compressed, more than a Slurm batch "
        "script can carry; use a shared filesystem (sharedfs: true) for this much"
    )
    assert result.job_ids == []
    [peak] = peaks
    assert peak < 6 * 1024 * 1024  # never the whole stage (24 MB, 32 MB in base64) in memory
    with pytest.raises(StageTooLarge):
        pack(data, 1024 * 1024)
    archive, count = pack(data, 32 * 1024 * 1024)
    assert count == 6 and len(archive) > 24 * 1024 * 1024
