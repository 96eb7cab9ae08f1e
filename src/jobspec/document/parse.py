"""Parsing YAML and JSON text into plain data, refusing what no jobspec needs and what
could hurt the process reading it.

- A key given twice in one mapping is an error (YAML and JSON would keep the last one
  silently, and the user meant one of them).
- YAML aliases that expand into an absurd document (an "alias bomb": a few lines that
  stand for a billion strings) are refused before anything is built from them, and so is
  nesting deeper than any jobspec goes.
- Strings with a NUL character or a lone surrogate (which no file, argument or environment
  variable can carry) are refused where they stand.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jobspec.document.problems import DocPath, JobspecError, Problem, shown

MAX_DEPTH = 64  # mappings and lists within each other; a jobspec's resource graph needs about ten
MAX_EXPANDED = 1_000_000  # values (and string characters / 1000) a document may stand for once aliases expand


def parse_json(text: str, source: str | None) -> Any:
    import json

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for key, value in pairs:
            if key in data:
                raise JobspecError(
                    Problem(f"the key {shown(key)} is given twice in one object: keep one", source=source)
                )
            data[key] = value
        return data

    try:
        data = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise JobspecError(Problem(f"invalid JSON: {e.msg}", source=source, line=e.lineno, column=e.colno)) from None
    except RecursionError:
        raise JobspecError(Problem(f"nested more than {MAX_DEPTH} levels deep: not a jobspec", source=source)) from None
    _refuse_bad_strings(data, source)
    return data


def parse_yaml(text: str, source: str | None) -> Any:
    import yaml

    loader = _strict_loader()(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "syntax error"
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        raise JobspecError(Problem(f"invalid YAML: {what}", source=source, line=line, column=column)) from None
    except yaml.YAMLError as e:
        raise JobspecError(Problem(f"invalid YAML: {e}", source=source)) from None
    except _Refused as e:
        raise JobspecError(Problem(e.message, source=source, line=e.line, column=e.column)) from None
    except RecursionError:
        raise JobspecError(Problem(f"nested more than {MAX_DEPTH} levels deep: not a jobspec", source=source)) from None
    finally:
        loader.dispose()
    if loader.odd_strings:  # the fast path saw a string to look at; the walk says where it stands
        _refuse_bad_strings(data, source)
    return data


class _Refused(Exception):
    def __init__(self, message: str, mark: Any) -> None:
        super().__init__(message)
        self.message = message
        self.line = mark.line + 1 if mark is not None else None
        self.column = mark.column + 1 if mark is not None else None


_LOADER: Any = None


def _strict_loader() -> Any:
    """PyYAML's safe loader (the C one when built), with the checks above added."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    merge_tag = "tag:yaml.org,2002:merge"

    class StrictLoader(base):  # type: ignore[misc]
        odd_strings = True  # a string with a NUL or a surrogate may be in the data: walk it

        def get_single_data(self) -> Any:
            node = self.get_single_node()
            if node is None:
                self.odd_strings = False
                return None
            try:
                return _FastBuild(self).document(node)
            except _Unusual:
                pass  # a tag or key the fast path leaves to PyYAML's own constructor
            _check_size(node)
            return self.construct_document(node)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, yaml.MappingNode):
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    if key_node.tag == merge_tag:
                        continue
                    key = self.construct_object(key_node, deep=True)
                    try:
                        repeated = key in seen
                        seen.add(key)
                    except TypeError:
                        continue  # an unhashable key: the constructor reports it
                    if repeated:
                        raise _Refused(
                            f"the key {shown(key)} is given twice in one mapping: keep one", key_node.start_mark
                        )
            return super().construct_mapping(node, deep=deep)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _SCALAR_ERRORS:
                if not isinstance(node, yaml.ScalarNode):
                    raise
                raise _unreadable(node) from None

    _LOADER = StrictLoader
    return _LOADER


class _Unusual(Exception):
    """A node `_FastBuild` leaves to PyYAML's constructor (explicit tags, merge keys, complex keys)."""


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_PLAIN_SCALARS = tuple(f"tag:yaml.org,2002:{kind}" for kind in ("null", "bool", "int", "float"))


class _FastBuild:
    """The data of a composed document in one walk, for documents of plain mappings, lists,
    strings, numbers, booleans and nulls (what jobspecs are): the checks of `_check_size`
    (depth, size once aliases expand), duplicate keys and a cheap look for odd strings, done
    as the values are built. PyYAML's constructor builds the same values through
    generators, several calls a node; this is about four times faster. Anything else
    raises `_Unusual` and the document is built the usual way (and checked as before)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.constructors = loader.yaml_constructors
        self.built: dict[int, tuple[Any, int]] = {}  # id(node) -> (value, size): aliases share
        self.odd = False
        self.duplicate: _Refused | None = None  # reported once sizes are known to be sound (as before)

    def document(self, root: Any) -> Any:
        data = self.build(root, 1)[0]
        if self.duplicate is not None:
            raise self.duplicate
        self.loader.odd_strings = self.odd
        return data

    def build(self, node: Any, depth: int) -> tuple[Any, int]:
        done = self.built.get(id(node))
        if done is not None:
            return done
        tag = node.tag
        kind = node.id
        if kind == "scalar":
            text = node.value
            if tag == _STR:
                if not self.odd and ("\0" in text or (not text.isascii() and not _encodes(text))):
                    self.odd = True
                value: Any = text
            elif tag in _PLAIN_SCALARS:
                try:
                    value = self.constructors[tag](self.loader, node)
                except _SCALAR_ERRORS:
                    raise _unreadable(node) from None
            else:
                raise _Unusual
            done = (value, 1 + len(text) // 1000)
        elif depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep: not a jobspec", node.start_mark)
        elif kind == "mapping":
            if tag != _MAP:
                raise _Unusual
            mapping: dict[Any, Any] = {}
            total = 1
            for key_node, value_node in node.value:
                if key_node.id != "scalar" or key_node.tag not in _KEY_TAGS:
                    raise _Unusual  # merge keys (<<), complex keys
                key, size = self.build(key_node, depth + 1)
                total += size
                if key in mapping and self.duplicate is None:
                    self.duplicate = _Refused(
                        f"the key {shown(key)} is given twice in one mapping: keep one", key_node.start_mark
                    )
                value, size = self.build(value_node, depth + 1)
                total += size
                mapping[key] = value
            done = (mapping, self.sized(total, node))
        elif kind == "sequence":
            if tag != _SEQ:
                raise _Unusual
            items = []
            total = 1
            for item_node in node.value:
                value, size = self.build(item_node, depth + 1)
                total += size
                items.append(value)
            done = (items, self.sized(total, node))
        else:
            raise _Unusual
        self.built[id(node)] = done
        return done

    @staticmethod
    def sized(total: int, node: Any) -> int:
        if total > MAX_EXPANDED:
            raise _Refused(_TOO_BIG, node.start_mark)
        return total


_KEY_TAGS = (_STR, *_PLAIN_SCALARS)
_TOO_BIG = (
    f"this document stands for more than {MAX_EXPANDED:,} values once its aliases (*name) are "
    "expanded: refused (a jobspec is small; write the values out, or use fewer nested aliases)"
)


# What PyYAML's scalar constructors raise for a value their explicit tag does not fit (!!int abc)
_SCALAR_ERRORS = (ValueError, KeyError, IndexError, AttributeError, TypeError)


def _unreadable(node: Any) -> _Refused:
    kind = str(node.tag).rsplit(":", 1)[-1]
    return _Refused(
        f"{shown(node.value)} cannot be read as !!{kind}: remove the tag, or write such a value", node.start_mark
    )


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_size(root: Any) -> None:
    """Refuse a node graph deeper than MAX_DEPTH or standing for more than MAX_EXPANDED
    values once aliases (which share nodes) are expanded. Iterative: no recursion limit."""
    import yaml

    sizes: dict[int, int] = {}
    stack: list[tuple[Any, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if isinstance(node, yaml.ScalarNode):
            sizes[id(node)] = 1 + len(node.value) // 1000
            continue
        if depth > MAX_DEPTH:
            raise _Refused(f"nested more than {MAX_DEPTH} levels deep: not a jobspec", node.start_mark)
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        if not children_done:
            stack.append((node, depth, True))
            stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(child), 0) for child in children)
        if total > MAX_EXPANDED:
            raise _Refused(_TOO_BIG, node.start_mark)
        sizes[id(node)] = total


def _refuse_bad_strings(data: Any, source: str | None) -> None:
    problems = list(_bad_strings(data))
    if problems:
        for problem in problems:
            problem.source = source
        raise JobspecError(problems)


def _bad_strings(data: Any) -> Iterator[Problem]:
    stack: list[tuple[Any, DocPath]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, child in value.items():
                if isinstance(key, str):
                    yield from _string_problems(key, (*path, key), "a key")
                stack.append((child, (*path, key if isinstance(key, (str, int)) else str(key))))
        elif isinstance(value, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(value))
        elif isinstance(value, str):
            yield from _string_problems(value, path, "the value")


def _string_problems(text: str, path: DocPath, what: str) -> Iterator[Problem]:
    if "\0" in text:
        yield Problem(f"{what} holds a NUL character, which no file name, argument or variable can carry", path=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        yield Problem(f"{what} holds a lone surrogate (\\ud800-\\udfff): not text that can be written out", path=path)
