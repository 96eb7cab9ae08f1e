"""YAML for people to read: multi-line strings (scripts) written as literal blocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def dump_yaml(documents: Iterable[Mapping[str, Any]], *, stream: bool = False, width: int = 120) -> str:
    """``documents`` as YAML, keys in their order; ``stream``: each starting ``---``."""
    import yaml

    class LiteralDumper(yaml.SafeDumper):
        pass

    def text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    LiteralDumper.add_representer(str, text)
    return str(
        yaml.dump_all(
            [dict(d) for d in documents],
            Dumper=LiteralDumper,
            explicit_start=stream,
            sort_keys=False,
            allow_unicode=True,
            default_flow_style=False,
            width=width,
        )
    )
