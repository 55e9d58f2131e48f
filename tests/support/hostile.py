"""Hypothesis strategies for hostile input: any JSON value in any field.

Shared by the property tests at every boundary (intake, the CLI, task arguments on a real worker).
Text deliberately includes what Facebook, PostgreSQL or UTF-8 cannot take: NUL, other C0 controls,
lone surrogates (valid JSON, invalid Unicode), plus very long strings and deep nesting.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import strategies as st

NASTY_CHARS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\ud800", "\udfff", "\udcff", "\u2028", "\ufeff", "é",
               "😀", "\t", "\n", "\r", "'", '"', "\\", "%s", "{}"]
NASTY_STRINGS = ["", " ", "null", "None", "0", "-1", "NaN", "facebook", "https://", "https://[", "http://x/a.jpg",
                 "https://cdn.example/a.jpg", "2030-01-02T10:00:00+00:00", "2030-01-02T10:00", "0001-01-01T00:00:00+01:00",
                 "9999-12-31T23:59:59-01:00", "image", "video", "reel", "photo", "text", "2026-13",
                 "00000000-0000-0000-0000-000000000000", "EAAsecrettoken0123456789abcdefghij"]


def hostile_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Short strings mixing ordinary characters with the ones the text rule refuses."""
    pieces = st.one_of(st.text(max_size=8), st.sampled_from(NASTY_CHARS), st.sampled_from(NASTY_STRINGS))
    return st.lists(pieces, max_size=max(1, max_size // 8)).map("".join)


def huge_text() -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(["x", "\x00", "é", "\ud800"]), st.sampled_from([63_207, 100_000])).map(
        lambda pair: pair[0] * pair[1])


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**30, max_value=10**60),
                     st.floats(allow_nan=True, allow_infinity=True), hostile_text())


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value (NaN and Infinity included: Python's json reads them), nested a little."""
    return st.recursive(json_scalars(), lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(hostile_text(12), children, max_size=4)),
        max_leaves=max_leaves)


def deep(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


def deep_values() -> st.SearchStrategy[Any]:
    return st.integers(min_value=33, max_value=400).map(lambda depth: deep("x", depth))


def any_value() -> st.SearchStrategy[Any]:
    """What a hostile sender may put in one field: anything, sometimes huge or deeply nested."""
    return st.one_of(json_values(), json_values(), json_values(), huge_text(), deep_values())


def uuid_like() -> st.SearchStrategy[Any]:
    """Ids: a random UUID (naming nothing), its odd spellings, or any value."""
    return st.one_of(st.uuids().map(str), st.uuids().map(lambda u: u.hex), st.uuids().map(lambda u: "{%s}" % u),
                     any_value())


def media_items() -> st.SearchStrategy[Any]:
    good = st.fixed_dictionaries({"url": st.sampled_from(["https://cdn.example/a.jpg", "https://cdn.example/v.mp4"]),
                                  "type": st.sampled_from(["image", "video"])},
                                 optional={"alt_text": st.one_of(hostile_text(), any_value())})
    hostile = st.dictionaries(st.sampled_from(["url", "type", "alt_text", "extra"]), any_value(), max_size=4)
    return st.one_of(good, good, hostile, any_value())


def writer_payloads(tenant_ids: list[str], slot_ids: list[str], integration_ids: list[str]) -> st.SearchStrategy[Any]:
    """Writer output: mostly objects whose fields are real, plausible or hostile; sometimes not an object."""
    def one_of_or_any(real: list[str]) -> st.SearchStrategy[Any]:
        return st.one_of(st.sampled_from(real), uuid_like()) if real else uuid_like()

    fields = {
        "tenant_id": st.one_of(st.sampled_from(tenant_ids), st.sampled_from(tenant_ids), uuid_like()),
        "slot_id": one_of_or_any(slot_ids),
        "integration_id": one_of_or_any(integration_ids),
        "platform": st.one_of(st.just("facebook"), any_value()),
        "message": st.one_of(hostile_text(), hostile_text(), any_value()),
        "link": st.one_of(st.just("https://example.com/a"), any_value()),
        "media": st.one_of(st.lists(media_items(), max_size=3), any_value()),
        "content_type": st.one_of(st.sampled_from(["text", "link", "photo", "album", "video", "reel"]), any_value()),
        "writer_run_id": st.one_of(hostile_text(), any_value()),
        "scheduled_at": st.one_of(st.just("2030-01-02T10:00:00+00:00"), any_value()),
    }
    objects = st.fixed_dictionaries({"tenant_id": fields.pop("tenant_id")}, optional={
        **fields, **{name: any_value() for name in ("unknown_field", "\x00key", "\ud800", "")}})
    return st.one_of(objects, objects, objects, any_value())


def random_uuid() -> str:
    return str(uuid.uuid4())
