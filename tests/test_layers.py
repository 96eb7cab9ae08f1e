"""The layers import only downward, and a backend knows no other backend.

    document < plugin (the contract) < engine < backends (transformers/<name>, registry)
    < api, receiver < cli

Every import counts, also those made lazily inside a function or only for type checking.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "jobspec"
LAYERS = [
    ("document", ("jobspec.document",)),
    ("plugin", ("jobspec.plugin",)),
    ("engine", ("jobspec.engine",)),
    ("backends", ("jobspec.transformers",)),
    ("front", ("jobspec.api", "jobspec.receiver", "jobspec.importing", "jobspec")),
    ("cli", ("jobspec.cli",)),
]
# The one upward call, declared: Transformer.run and run_many are the original Python use
# (get_plugin("flux")().run("jobspec.yaml")), so the contract calls the engine there, lazily.
ALLOWED = {
    ("jobspec.plugin.transformer", "jobspec.engine.run"),
    ("jobspec.plugin.transformer", "jobspec.engine.pipeline"),
    ("jobspec.plugin.transformer", "jobspec.engine.result"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, module
    return best[0]


def backend(module: str) -> str | None:
    """``jobspec.transformers.slurm.client`` -> ``slurm``; None outside a backend's folder."""
    parts = module.split(".")
    if len(parts) < 3 or parts[1] != "transformers" or parts[2] == "registry":
        return None
    return parts[2]


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("jobspec"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("jobspec"))
    return found


MODULES = sorted(p for p in SOURCE.rglob("*.py") if not p.name.startswith("_schema"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SOURCE)))
def test_imports_go_only_downward(path: Path) -> None:
    me = module_name(path)
    wrong = []
    for target in sorted(imports(path)):
        if (me, target) in ALLOWED:
            continue
        if layer(target) > layer(me):
            wrong.append(f"{target} (layer {LAYERS[layer(target)][0]}, above {LAYERS[layer(me)][0]})")
        mine, theirs = backend(me), backend(target)
        if mine is not None and (target.startswith("jobspec.transformers") and theirs != mine):
            wrong.append(f"{target} (a backend imports only its own folder, the contract and the document)")
    assert not wrong, f"{me} imports " + "; ".join(wrong)


def test_the_command_line_engine_and_receiver_know_no_backend_by_name() -> None:
    names = ("flux", "slurm", "kubernetes", "local")
    for folder in ("cli", "engine", "receiver", "plugin"):
        for path in (SOURCE / folder).rglob("*.py"):
            for target in imports(path):
                assert backend(target) not in names, f"{path.relative_to(SOURCE)} imports {target}"
