"""What the user chooses for Slurm: the transformer's options (`SlurmOptions`), its
settings (`SETTINGS`, changed by set/unset steps), and how the two, with the
environment, decide the interface (sbatch or the REST API) and slurmrestd's address.

The REST API's token goes with every request, so a document may not send it
elsewhere: a ``slurm.rest_url`` it sets must be the address the user configured
(the ``rest_url`` option or the environment) or one the user allows in
JOBSPEC_SLURM_REST_URLS (`rest_url_problem`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobspec.plugin import Setting, TransformerOptions

INTERFACES = ("cli", "rest")
DEFAULT_REST_URL = "http://127.0.0.1:6820"  # slurmrestd's usual port
ALLOWED_URLS = "JOBSPEC_SLURM_REST_URLS"  # more addresses a document may name (space-separated)


@dataclass(frozen=True)
class SlurmOptions(TransformerOptions):
    """``SlurmTransformer(interface="rest", rest_url=...)``: the defaults of the settings
    of the same names, for every run of that instance."""

    interface: str | None = None
    rest_url: str | None = None


SETTINGS: Mapping[str, Setting] = {
    "slurm.partition": Setting("slurm.partition", "str", None, "the partition (sbatch --partition)"),
    "slurm.account": Setting("slurm.account", "str", None, "the account to charge (sbatch --account)"),
    "slurm.qos": Setting("slurm.qos", "str", None, "the quality of service (sbatch --qos)"),
    "slurm.options": Setting(
        "slurm.options", "args", None, "more sbatch options, as a list (each passed as one argument)"
    ),
    "slurm.interface": Setting(
        "slurm.interface",
        "str",
        None,
        "cli (sbatch, the default) or rest (slurmrestd); unset: the transformer's interface option, "
        "else JOBSPEC_SLURM_INTERFACE, else cli",
    ),
    "slurm.rest_url": Setting(
        "slurm.rest_url",
        "str",
        None,
        f"slurmrestd's address; unset: the transformer's rest_url option, else JOBSPEC_SLURMRESTD_URL, else "
        f"SLURMRESTD_URL, else {DEFAULT_REST_URL}. The token goes there, so a value set here must be that "
        f"address or one listed in {ALLOWED_URLS} (space-separated addresses the user allows)",
    ),
}


def resolve_interface(settings: Mapping[str, Any], options: SlurmOptions) -> str:
    """The slurm.interface setting, else the ``interface`` option, else
    JOBSPEC_SLURM_INTERFACE, else the command line (``cli``)."""
    value = settings.get("slurm.interface") or options.interface or os.environ.get("JOBSPEC_SLURM_INTERFACE")
    return str(value or "cli").strip().lower()


def resolve_rest_url(settings: Mapping[str, Any], options: SlurmOptions) -> str:
    """slurm.rest_url, else the configured address (`configured_rest_url`)."""
    named = settings.get("slurm.rest_url")
    return str(named).rstrip("/") if named else configured_rest_url(options)


def configured_rest_url(options: SlurmOptions) -> str:
    """The user's own choice: the ``rest_url`` option, else JOBSPEC_SLURMRESTD_URL,
    else SLURMRESTD_URL, else slurmrestd's usual address."""
    for value in (
        options.rest_url,
        os.environ.get("JOBSPEC_SLURMRESTD_URL"),
        os.environ.get("SLURMRESTD_URL"),
    ):
        if value:
            return str(value).rstrip("/")
    return DEFAULT_REST_URL


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be slurmrestd's address here, or None."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        return f"slurm.rest_url {url!r} is not an http:// or https:// address (like {DEFAULT_REST_URL})"
    return None


def rest_url_problem(settings: Mapping[str, Any], options: SlurmOptions) -> str | None:
    """Why the document's slurm.rest_url may not receive the token, or None: it must be
    the configured address or one the user lists in JOBSPEC_SLURM_REST_URLS."""
    named = settings.get("slurm.rest_url")
    if not named:
        return None
    url = str(named).rstrip("/")
    configured = configured_rest_url(options)
    allowed = {configured, *(u.rstrip("/") for u in os.environ.get(ALLOWED_URLS, "").split())}
    if url in allowed:
        return None
    return (
        f"slurm.rest_url {url!r} is not the REST API address configured here ({configured}), and the token "
        f"goes only there: to allow it, list it in {ALLOWED_URLS} (space-separated addresses)"
    )
