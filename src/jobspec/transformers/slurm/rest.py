"""The thin layer that talks to Slurm's REST API (slurmrestd): one HTTP request per call,
and what a REST submission must add to the job that sbatch would add itself.

Standard library only (urllib.request), with a timeout. What is sent and how the
answers read is decided in `rest_mapping` (`rest_job`, `rest_failure`,
`parse_rest_submit`); this module only carries it. Imported when the REST
interface is used, so the command line's start-up does not pay for urllib.

The token travels in the ``X-SLURM-USER-TOKEN`` header and nowhere else: no
message raised here holds a header, the request, or the answer's headers. A
redirect is never followed (urllib would resend the header to the new address):
it is an error that names where it pointed.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.error
import urllib.request
from typing import Any

from jobspec.transformers.slurm import client, parse, rest_mapping

TIMEOUT = 30.0  # seconds for one request: connect, and the answer
MAX_ANSWER = 16 * 1024 * 1024  # bytes of an answer read at most: slurmrestd's are small


class RestError(client.SlurmError):
    """The REST API could not be used; the message is for the user (and holds no token)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Follows no redirect: the 30x answer comes back as an HTTPError (see `call`)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener: urllib.request.OpenerDirector | None = None


def _open(request: urllib.request.Request, timeout: float) -> Any:
    global _opener
    if _opener is None:  # built once per process: it reads the proxy settings from the environment
        _opener = urllib.request.build_opener(_NoRedirects())
    return _opener.open(request, timeout=timeout)


def _redirected(url: str, code: int, location: str | None) -> RestError:
    where = f" to {location[:200]}" if location else ""
    return RestError(
        f"Slurm's REST API at {url} answered with a redirect (HTTP {code}{where}); jobspec does not follow "
        "redirects, since the token would go along: configure the address slurmrestd itself answers at"
    )


def _decode(data: bytes) -> Any:
    """The answer's JSON, or its text when it is not JSON (slurmrestd's 401 is plain text)."""
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _why(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    if isinstance(reason, socket.gaierror):
        return f"unknown host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def call(
    url: str,
    path: str,
    *,
    user: str,
    token: str,
    body: Any = None,
    method: str = "GET",
    timeout: float = TIMEOUT,
) -> tuple[int, Any]:
    """One request; (HTTP status, the answer as JSON or text). RestError when nothing answers."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogateescape")
    headers = {"X-SLURM-USER-NAME": user, "X-SLURM-USER-TOKEN": token, "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    try:
        request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers=headers)
        with _open(request, timeout) as answer:
            return int(answer.status), _decode(answer.read(MAX_ANSWER))
    except urllib.error.HTTPError as e:
        with e:
            if 300 <= e.code < 400:
                raise _redirected(url, e.code, e.headers.get("Location") if e.headers else None) from None
            return int(e.code), _decode(e.read(MAX_ANSWER))
    except urllib.error.URLError as e:
        raise RestError(f"Slurm's REST API did not answer at {url}: {_why(e.reason)}") from None
    except TimeoutError:
        raise RestError(f"Slurm's REST API did not answer at {url} within {timeout:g} s") from None
    except OSError as e:  # the connection dropped half-way, say
        raise RestError(f"Slurm's REST API did not answer at {url}: {_why(e)}") from None
    except http.client.HTTPException as e:  # an answer that is not HTTP
        raise RestError(f"Slurm's REST API at {url} gave no HTTP answer: {type(e).__name__}") from None
    except ValueError as e:  # a URL urllib cannot use
        raise RestError(f"cannot reach Slurm's REST API at {url!r}: {e}") from None


def submit(url: str, script: str, job: dict[str, Any], *, user: str, token: str) -> tuple[str, list[str]]:
    """POST the job; its id and Slurm's warnings. RestError with Slurm's own words if it is refused."""
    status, answer = call(
        url, rest_mapping.REST_SUBMIT, user=user, token=token, body={"script": script, "job": job}, method="POST"
    )
    if status != 200:
        raise RestError(rest_mapping.rest_failure(status, answer, url))
    try:
        return rest_mapping.parse_rest_submit(answer)
    except parse.SbatchOutputError as e:
        raise RestError(str(e)) from None


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def submitter_variables() -> dict[str, str]:
    """What sbatch adds to a job's environment from the process that submits it, for a
    REST submission to give the same job: the submit directory and host, the nice
    value, the umask, and the resource limits slurm.conf propagates (SLURM_RLIMIT_*)."""
    return {
        "SLURM_SUBMIT_DIR": os.getcwd(),
        "SLURM_SUBMIT_HOST": socket.gethostname(),
        "SLURM_PRIO_PROCESS": str(os.getpriority(os.PRIO_PROCESS, 0)),
        "SLURM_UMASK": f"0{_umask():03o}",  # as sbatch, whose SLURM_UMASK input is cleaned away
        **client.rlimit_variables(),
    }
