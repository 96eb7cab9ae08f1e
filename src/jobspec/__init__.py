"""jobspec: one cluster-agnostic job description, run on Flux, Slurm, Kubernetes or here.

The package keeps its import cheap (the command line starts in a few tens of
milliseconds): the public names below are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Jobspec",
    "JobspecError",
    "Problem",
    "RunResult",
    "__version__",
    "check",
    "count_resources",
    "get_transformer_registry",
    "load",
    "plan",
    "run",
    "validate",
]

_LAZY = {
    "Jobspec": "jobspec.document.model",
    "load": "jobspec.document.load",
    "validate": "jobspec.document.validate",
    "count_resources": "jobspec.document.resources",
    "JobspecError": "jobspec.document.problems",
    "Problem": "jobspec.document.problems",
    "plan": "jobspec.api",
    "run": "jobspec.api",
    "check": "jobspec.api",
    "RunResult": "jobspec.engine.result",
    "get_transformer_registry": "jobspec.transformers.registry",
}

if TYPE_CHECKING:
    from jobspec.api import check, plan, run
    from jobspec.document.load import load
    from jobspec.document.model import Jobspec
    from jobspec.document.problems import JobspecError, Problem
    from jobspec.document.resources import count_resources
    from jobspec.document.validate import validate
    from jobspec.engine.result import RunResult
    from jobspec.transformers.registry import get_transformer_registry


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jobspec' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
