"""The YAML reader builds plain documents in one checked walk of its own (a fast path) and
leaves anything else to PyYAML's constructor: either way a user gets what YAML says, and
the same refusals."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from jobspec import JobspecError
from jobspec.document.parse import MAX_DEPTH, parse_yaml

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=12),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(scalars, inner, max_size=4)),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(documents, st.sampled_from([{}, {"default_flow_style": True}, {"default_style": '"'}]))
def test_what_is_read_is_what_pyyaml_reads(data: Any, style: dict[str, Any]) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, **style)
    assert parse_yaml(text, None) == yaml.safe_load(text)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: [1, 2.5, true, null, '3']}\nc: *x\nd: *x\n",  # aliases: one value, shared
        "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\n",  # a merge key: PyYAML's own constructor
        "when: 2001-12-14\nset: !!set {a, b}\nraw: !!binary aGk=\n",  # explicit and unusual tags
        "hex: 0x1f\noctal: 0o17\nbig: 1_000\nsexagesimal: 1:30\nyes: no\ninf: .inf\n",
    ],
)
def test_unusual_documents_read_as_pyyaml_reads_them(text: str) -> None:
    assert parse_yaml(text, None) == yaml.safe_load(text)


def test_shared_values_stay_shared() -> None:
    data = parse_yaml("a: &x {b: 1}\nc: *x\n", None)
    assert data["a"] is data["c"]


def refused(text: str) -> str:
    with pytest.raises(JobspecError) as caught:
        parse_yaml(text, "doc.yaml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a: "x\\0y"\n', "a: the value holds a NUL"),
        ('"k\\0": 1\n', "a key holds a NUL"),
        ("a: 1\nb: {c: 2, c: 3}\n", "doc.yaml:2:11: the key 'c' is given twice"),
        ("a: 1\nb: {<<: {x: 1}, c: 2, c: 3}\n", "the key 'c' is given twice"),  # on the usual path too
        ("a:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 2)) + "  " * (MAX_DEPTH + 2) + "x\n", "deep"),
    ],
    ids=["NUL", "NUL in a key", "duplicate", "duplicate beside a merge key", "deep"],
)
def test_yaml_documents_that_hurt_are_refused(text: str, message: str) -> None:
    assert message in refused(text)


def test_a_recursive_alias_is_refused() -> None:
    assert "levels deep" in refused("a: &x [1, *x]\n")


@pytest.mark.parametrize("value", ["!!int abc", "!!bool maybe", "!!float x", "!!timestamp x", '!!int ""'])
def test_a_value_its_tag_does_not_fit_is_refused_with_its_place(value: str) -> None:
    message = refused(f"a: 1\nb: {value}\n")
    assert "doc.yaml:2:4: " in message and "cannot be read as !!" in message
