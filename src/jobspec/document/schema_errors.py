"""The errors the compiled schema checks raise.

The checks are written by fastjsonschema (scripts/generate-schema-check) to raise its
error classes; the generator points them at these, of the same shape, so that checking
a document never imports fastjsonschema itself (its code generators, decimal, urllib:
milliseconds at every start). A check compiled at run time, while the generated one is
stale, raises fastjsonschema's, which `validate.compile_now` turns into these.
"""

from __future__ import annotations

import re
from typing import Any


class JsonSchemaValueException(ValueError):
    """One place that breaks a rule: its ``name`` (``data.task.transform[1]``), its
    ``value``, the ``definition`` it must meet, and the ``rule`` of it that it breaks."""

    def __init__(
        self,
        message: str,
        value: Any = None,
        name: str | None = None,
        definition: Any = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.value = value
        self.name = name
        self.definition = definition
        self.rule = rule

    @property
    def path(self) -> list[str]:
        """``data.task.transform[1]`` as ``['data', 'task', 'transform', '1']``."""
        return [part for part in re.split(r"[.\[\]]+", self.name or "") if part]

    @property
    def rule_definition(self) -> Any:
        return self.definition.get(self.rule) if self.rule and self.definition else None


class JsonSchemaValuesException(ValueError):
    """Every place that breaks a rule (the checks are compiled not to stop at the first)."""

    def __init__(self, errors: list[JsonSchemaValueException]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.message = str(self)
        self.errors = errors
