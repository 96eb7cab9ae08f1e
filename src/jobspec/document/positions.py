"""Line and column of a place in a YAML or JSON text, worked out only when needed.

Parsing with positions is several times slower than plain parsing, so the loader
never does it; when there are problems to report, the text is composed once into
YAML nodes (JSON is YAML for this purpose) and each problem's path is looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jobspec.document.problems import DocPath, Problem


def add_positions(text: str | None, problems: Iterable[Problem]) -> None:
    """Fill in ``line`` and ``column`` of each problem whose path is found in ``text``."""
    problems = [p for p in problems if p.line is None]
    if not text or not problems:
        return
    import yaml

    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return
    for problem in problems:
        node = _find(root, problem.path)
        if node is not None:
            problem.line = node.start_mark.line + 1
            problem.column = node.start_mark.column + 1


def _find(node: Any, path: DocPath) -> Any:
    """The deepest node on ``path`` (a missing key points at its parent)."""
    import yaml

    for part in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            return node
        node = child
    return node
