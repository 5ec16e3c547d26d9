"""The format is code: docs/storage.md documents exactly the fields of each document, and decoding is strict."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from pipelines import documents
from pipelines.documents import DamagedObject, IndexEntry, Manifest, decode, encode

DOC = Path(__file__).resolve().parent.parent / "docs" / "storage.md"
DOCUMENTED = ("Manifest", "IndexEntry", "Version", "CommitReceipt", "FetchRecord", "CleanedRecord")


def documented_fields(name: str) -> set[str]:
    """The first column of the field table under the heading `### name`."""
    text = DOC.read_text()
    section = text.split(f"### {name}\n", 1)[1].split("\n#", 1)[0]
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, re.M))


@pytest.mark.parametrize("name", DOCUMENTED)
def test_storage_doc_lists_exactly_the_fields_in_code(name):
    in_code = set(getattr(documents, name).__struct_fields__)
    in_doc = documented_fields(name)
    assert in_doc, f"docs/storage.md has no field table for {name}"
    assert in_doc == in_code, f"{name}: only in docs {in_doc - in_code}, only in code {in_code - in_doc}"


def entry(**changes) -> dict:
    base = {
        "article_id": "7",
        "post_id": 7,
        "edition": "en",
        "url": "https://example.org/news/a/",
        "aliases": [],
        "translations": {},
        "status": "live",
        "version": 1,
        "key": "articles/7/v00001-0123456789abcdef.json.gz",
        "sha256": "a" * 64,
        "fingerprint": "b" * 64,
        "title": "A",
        "published": None,
        "modified": None,
        "observed_at": "2026-11-01T00:00:00Z",
        "observed_in": 1,
        "etag": None,
        "last_modified": None,
    }
    return base | changes


def test_decoding_is_strict_and_names_the_key():
    good = encode(entry())
    assert decode(IndexEntry, good, "k").post_id == 7
    bad = {
        "unknown field": entry(extra=1),
        "wrong type": entry(version="1"),
        "post id too large": entry(post_id=2**64),
        "negative post id": entry(post_id=-3),
        "short digest": entry(sha256="abc"),
        "bad status": entry(status="deleted"),
        "version 0": entry(version=0),
    }
    for why, doc in bad.items():
        with pytest.raises(DamagedObject, match=r"^indexes/x line 3: not a valid IndexEntry") as err:
            decode(IndexEntry, msgspec.json.encode(doc), "indexes/x line 3")
        assert "\n" not in str(err.value), why
    with pytest.raises(DamagedObject, match=r"snapshots/00000001\.json: not JSON"):
        decode(Manifest, b"\x1f\x8b garbage", "snapshots/00000001.json")
    with pytest.raises(DamagedObject, match="not a valid Manifest"):
        decode(Manifest, b"{}", "snapshots/00000001.json")


def test_encoding_is_canonical():
    a = decode(IndexEntry, encode(entry()), "k")
    assert encode(a) == encode(decode(IndexEntry, encode(a), "k")), "stable across a round trip"
    assert encode({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}', "sorted keys, no spaces"
