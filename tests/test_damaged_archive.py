"""A damaged-archive corpus: each kind of damage, and which check catches it, naming which key.

One small archive is built once for the module (three runs against the simulator: a reconcile of the English
briefs; a day with 2 new, 2 edited and 1 removed brief; a day with 1 new, 1 edited and 1 removed brief), so the
newest snapshot (3) holds a second version (``edited``), a first version (``new``) and a tombstone (``removed``),
and snapshot 2 another second version (``edited2``). For each kind of damage the pristine archive is copied
server-side into a fresh bucket of the session's SeaweedFS, damaged there with plain boto3, and examined from
every side:

- ``verify(bucket)`` (cheap: the newest snapshot), where the damage is in its scope, and ``verify(bucket,
  full=True)``: not ok, missing/mismatched counted, a problem line names the damaged key;
- ``briefs verify`` / ``briefs verify --full``: exit 1, a ``damaged:`` line names the key;
- the readers (``briefs article``, ``history``, ``diff``, ``export``, ``snapshot``, ``snapshots``) the damage is
  in the way of: exit 1 with one ``error:`` line naming the key, no traceback, no article text, no partial export;
- the ``Archive`` API, for every reader: those in the way raise ``DamagedObject`` naming the key, every other one
  returns exactly what it returns on the pristine archive (the CLI is compared with the pristine archive once, on
  an undamaged copy: each CLI run builds its own S3 client);
- ``briefs gc --apply --grace 0``: refuses (exit 1) and deletes nothing.

``CASES`` below is the verdict table. Keys are written as tokens: ``manifest@N`` (``snapshots/0000000N.json``),
``index@N`` / ``pack@N`` / ``warc@N`` (what snapshot N's manifest references), ``ROLE@vK`` (version K of an
article: ``edited``, ``edited2``, ``new``, ``removed``).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipelines import layout
from pipelines.archive import Archive, NotFound
from pipelines.cli import app
from pipelines.documents import DamagedObject, IndexEntry, Manifest, Version, decode, to_builtins
from pipelines.export import export_snapshot
from pipelines.storage import Bucket
from pipelines.verified import read_manifest
from pipelines.verify import verify

ENV_NAMES = (
    "BRIEFS_S3_ENDPOINT_URL",
    "BRIEFS_S3_BUCKET",
    "BRIEFS_S3_PREFIX",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
)
RUNS = ("first", "second", "third")


# ---- the pristine archive -------------------------------------------------------------------------------------
@dataclass
class Pristine:
    env: dict[str, str]
    bucket: Bucket
    manifests: dict[int, Manifest]
    indexes: dict[int, dict[str, IndexEntry]]
    versions: dict[str, Version]  # every version in the archive, by key (from the packs)
    roles: dict[str, str]  # edited, edited2, new, removed -> article id
    snippets: dict[str, set[str]] = field(default_factory=dict)  # article id -> titles and text openings

    def key(self, token: str) -> str:
        """The bucket key (relative to the prefix) a token of the verdict table stands for."""
        what, _, where = token.partition("@")
        if what == "manifest":
            return layout.snapshot_key(int(where))
        if what in ("index", "pack", "warc"):
            manifest = self.manifests[int(where)]
            if what == "index":
                return manifest.index_base.key
            if what == "pack":
                (pack,) = manifest.packs
                return pack
            return next(w for w in manifest.warc if w.startswith(f"warc/{RUNS[int(where) - 1]}/"))
        article, number = self.roles[what], int(where.removeprefix("v"))
        return next(k for k, v in self.versions.items() if (v.article_id, v.version) == (article, number))

    def foreign_text(self, output: str, own: str | None = None) -> list[str]:
        """Article titles or text (of any article but `own`) that appear in `output`."""
        return [s for aid, found in self.snippets.items() if aid != own for s in found if s in output]


def _gunzip_lines(data: bytes) -> list[bytes]:
    return [line for line in gzip.decompress(data).split(b"\n") if line]


@pytest.fixture(scope="module")
def pristine(seaweed, tmp_path_factory) -> Pristine:
    """Three snapshots: the English briefs; +2 new, 2 edited, 1 removed; +1 new, 1 edited, 1 removed."""
    from infra.simulator import Simulator, Site
    from pipelines.run import run_once
    from pipelines.settings import Settings
    from spiders.runner import CrawlJob

    env = seaweed.env(bucket="damaged-pristine")
    bucket = Bucket(Settings.from_env(env).storage)
    bucket.ensure_bucket()
    tmp = tmp_path_factory.mktemp("damaged")
    with Simulator(Site(posts=30)) as sim:

        def run(run_id: str) -> dict:
            job = CrawlJob(
                out=tmp,
                mode="reconcile",
                site=sim.base,
                editions="en",
                polite=False,
                settings={"RETRY_BACKOFF_BASE": 0.05},
            )
            return run_once(bucket, run_id, job, tmp / run_id, logging.getLogger("test"))

        run(RUNS[0])
        earlier = sim.site.advance(hours=24, new=2, edited=2, renamed=0, removed=1)
        run(RUNS[1])
        latest = sim.site.advance(hours=24, new=1, edited=1, renamed=0, removed=1)
        summary = run(RUNS[2])
    assert summary["snapshot"] == 3 and summary["counts"]["removed"] == 1, summary["counts"]

    manifests = {seq: read_manifest(bucket, seq).manifest for seq in (1, 2, 3)}
    indexes = {}
    for seq, manifest in manifests.items():
        entries = (
            decode(IndexEntry, line, "index") for line in _gunzip_lines(bucket.get(manifest.index_base.key))
        )
        indexes[seq] = {e.article_id: e for e in entries}
    versions = {}
    for manifest in manifests.values():
        for pack in manifest.packs:
            for line in _gunzip_lines(bucket.get(pack)):
                version = decode(Version, line, pack)
                versions[
                    layout.version_key(version.article_id, version.version, hashlib.sha256(line).hexdigest())
                ] = version
    roles = {
        "edited": str(latest.edited[0]),
        "edited2": str(earlier.edited[0]),
        "new": str(latest.new[0]),
        "removed": str(latest.removed[0]),
    }
    p = Pristine(env, bucket, manifests, indexes, versions, roles)
    # The shape every case relies on.
    newest = indexes[3]
    assert [len(m.packs) for m in manifests.values()] == [1, 1, 1]
    assert newest[roles["edited"]].version == 2 and newest[roles["edited"]].pack == p.key("pack@3")
    assert indexes[1][roles["edited"]].version == 1
    assert indexes[2][roles["edited2"]].version == 2 == newest[roles["edited2"]].version
    assert roles["edited2"] != roles["edited"]
    assert newest[roles["new"]].version == 1 and newest[roles["new"]].pack == p.key("pack@3")
    assert newest[roles["removed"]].status == "gone" and newest[roles["removed"]].version == 2
    assert len({p.key(f"{role}@v1") for role in roles}) == 4
    # Distinctive text of each article: a reader that fails must print none of it.
    openings: dict[str, set[str]] = {}
    for version in versions.values():
        if version.status == "live":
            found = openings.setdefault(version.article_id, set())
            found.add((version.text or "")[:60])
            if version.metadata and version.metadata.title:
                found.add(version.metadata.title)
    seen: dict[str, int] = {}
    for found in openings.values():
        for snippet in found:
            seen[snippet] = seen.get(snippet, 0) + 1
    p.snippets = {aid: {s for s in found if len(s) >= 20 and seen[s] == 1} for aid, found in openings.items()}
    assert all(p.snippets.values())
    return p


# ---- copies, damaged with plain boto3 ---------------------------------------------------------------------------
@dataclass
class Raw:
    """Plain boto3 on one bucket (the bucket's own client), keys relative to the archive's prefix."""

    client: Any
    bucket: str
    prefix: str

    def name(self, key: str) -> str:
        return f"{self.prefix}/{key}"

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.name(key))["Body"].read()

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.name(key), Body=body)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.name(key))

    def listing(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/"
        )
        return {o["Key"][len(self.prefix) + 1 :] for page in pages for o in page.get("Contents", [])}


@dataclass
class Copy:
    env: dict[str, str]
    bucket: Bucket
    raw: Raw


_names = count(1)


def copy_of(p: Pristine, seaweed, label: str) -> Copy:
    """The pristine archive, copied server-side (copy_object of every key under the prefix) into a fresh bucket."""
    from pipelines.settings import Settings

    name = f"dmg-{next(_names):02d}-{re.sub(r'[^a-z0-9-]', '-', label.lower())}"[:63].rstrip("-")
    env = seaweed.env(bucket=name, prefix=p.env["BRIEFS_S3_PREFIX"])
    bucket = Bucket(Settings.from_env(env).storage)
    bucket.ensure_bucket(versioning=False)
    source = Raw(p.bucket.client, p.env["BRIEFS_S3_BUCKET"], p.env["BRIEFS_S3_PREFIX"])
    raw = Raw(bucket.client, name, env["BRIEFS_S3_PREFIX"])
    keys = source.listing()
    for key in sorted(keys):
        raw.client.copy_object(
            Bucket=name, Key=raw.name(key), CopySource={"Bucket": source.bucket, "Key": source.name(key)}
        )
    assert raw.listing() == keys
    return Copy(env, bucket, raw)


Damage = Callable[[Pristine, Raw], None]


def swap(target: str, source: str) -> Damage:
    """Another valid object's bytes under the target's key."""

    def apply(p: Pristine, s3: Raw) -> None:
        body = s3.get(p.key(source))
        assert body != s3.get(p.key(target))
        s3.put(p.key(target), body)

    return apply


def truncate(target: str) -> Damage:
    def apply(p: Pristine, s3: Raw) -> None:
        body = s3.get(p.key(target))
        s3.put(p.key(target), body[: len(body) // 2])

    return apply


def bitflip(target: str) -> Damage:
    """One bit flipped in the middle of the object (inside the deflate stream of a gzip object)."""

    def apply(p: Pristine, s3: Raw) -> None:
        body = bytearray(s3.get(p.key(target)))
        body[len(body) // 2] ^= 0x01
        s3.put(p.key(target), bytes(body))

    return apply


def delete(target: str) -> Damage:
    def apply(p: Pristine, s3: Raw) -> None:
        s3.delete(p.key(target))
        assert p.key(target) not in s3.listing()

    return apply


def replace(target: str, body: bytes) -> Damage:
    def apply(p: Pristine, s3: Raw) -> None:
        s3.put(p.key(target), body)

    return apply


def _json(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def edit_manifest(target: str, change: Callable[[dict, Pristine], None]) -> Damage:
    """A manifest's JSON edited (still a valid manifest document)."""

    def apply(p: Pristine, s3: Raw) -> None:
        document = json.loads(s3.get(p.key(target)))
        change(document, p)
        s3.put(p.key(target), _json(document))

    return apply


def flip_run_id(target: str) -> Damage:
    """One bit flipped inside the manifest's run id: still valid JSON and a valid manifest, other bytes."""

    def apply(p: Pristine, s3: Raw) -> None:
        body = bytearray(s3.get(p.key(target)))
        seq = int(target.partition("@")[2])
        at = body.index(b'"' + RUNS[seq - 1].encode() + b'"') + 1
        body[at] ^= 0x01
        document = json.loads(bytes(body))
        assert document["run_id"] != RUNS[seq - 1] and document["seq"] == seq
        s3.put(p.key(target), bytes(body))

    return apply


def reverse_pack(target: str) -> Damage:
    """The pack's lines, all valid, in reverse order (its key no longer matches its content)."""

    def apply(p: Pristine, s3: Raw) -> None:
        lines = _gunzip_lines(s3.get(p.key(target)))
        assert len(lines) > 1 and lines != lines[::-1]
        s3.put(p.key(target), gzip.compress(b"".join(line + b"\n" for line in lines[::-1]), mtime=0))

    return apply


def rewrite_ids(target: str, other: str, depth: int) -> Damage:
    """A version object's JSON rewritten to claim another article's id and version, re-gzipped, same key.

    depth 1: also the newest index's entry gets the new digest (index rewritten in place, same key);
    depth 2: also the index is stored under its new content key and the newest manifest points to it.
    """

    def apply(p: Pristine, s3: Raw) -> None:
        key = p.key(target)
        document = json.loads(gzip.decompress(s3.get(key)))
        impostor = p.versions[p.key(other)]
        document.update(article_id=impostor.article_id, post_id=impostor.post_id, version=impostor.version)
        data = _json(document)
        s3.put(key, gzip.compress(data, mtime=0))
        if depth == 0:
            return
        index_key = p.manifests[3].index_base.key
        entries = [json.loads(line) for line in _gunzip_lines(s3.get(index_key))]
        (entry,) = [e for e in entries if e["key"] == key]
        entry["sha256"] = hashlib.sha256(data).hexdigest()
        body = gzip.compress(b"".join(_json(e) + b"\n" for e in entries), mtime=0)
        if depth == 1:
            s3.put(index_key, body)
            return
        sha = hashlib.sha256(body).hexdigest()
        s3.put(layout.index_key(sha), body)
        manifest_key = layout.snapshot_key(3)
        manifest = json.loads(s3.get(manifest_key))
        manifest["index_base"].update(key=layout.index_key(sha), sha256=sha)
        s3.put(manifest_key, _json(manifest))

    return apply


def _set(**values) -> Callable[[dict, Pristine], None]:
    return lambda document, _: document.update(values)


def _index_of_snapshot_1(document: dict, p: Pristine) -> None:
    document["index_base"] = to_builtins(p.manifests[1].index_base)


# ---- the readers --------------------------------------------------------------------------------------------------
READERS: dict[str, tuple[str, ...]] = {
    "article": ("article", "{edited}"),  # manifest 3, index 3, edited v2 object
    "article-at-1": ("article", "{edited}", "--at", "1"),  # manifest 1, index 1, edited v1 object
    "article-at-2": ("article", "{edited2}", "--at", "2"),  # manifest 2, index 2, edited2 v2 object
    "article-removed": ("article", "{removed}"),  # manifest 3, index 3, removed v2 (tombstone) object
    "history": ("history", "{edited}"),  # manifest 3, index 3, edited v2 and v1 objects
    "diff": ("diff", "{edited}"),  # the same as history
    "export": ("export", "{out}", "--format", "jsonl"),  # manifest 3, index 3, packs 1-3 (live articles)
    "snapshot": ("snapshot",),  # manifest 3
    "snapshot-2": ("snapshot", "2"),  # manifest 2
    "snapshots": ("snapshots",),  # every manifest
}
HEAD = frozenset({"article", "article-removed", "history", "diff", "export", "snapshot", "snapshots"})
LATEST_INDEX = frozenset({"article", "article-removed", "history", "diff", "export"})
EDITED_V2 = frozenset({"article", "history", "diff"})
EDITED_V1 = frozenset({"article-at-1", "history", "diff"})
PARENT = frozenset({"snapshot-2", "article-at-2", "snapshots"})
EXPORT = frozenset({"export"})
NONE: frozenset[str] = frozenset()


def api(reader: str, archive: Archive, p: Pristine, out: Path):
    """What the Python API gives for each reader (for an export: the rows written)."""
    roles = p.roles
    if reader == "article":
        return archive.article(roles["edited"])
    if reader == "article-at-1":
        return archive.article(roles["edited"], at=1)
    if reader == "article-at-2":
        return archive.article(roles["edited2"], at=2)
    if reader == "article-removed":
        return archive.article(roles["removed"])
    if reader == "history":
        return archive.history(roles["edited"])
    if reader == "diff":
        return archive.diff(roles["edited"])
    if reader == "export":
        export_snapshot(archive, archive.resolve(None), out, "jsonl")
        return _rows(out)
    if reader == "snapshot":
        return archive.manifest(archive.resolve(None))
    if reader == "snapshot-2":
        return archive.manifest(archive.resolve("2"))
    assert reader == "snapshots"
    return [archive.manifest(seq) for seq in archive.seqs()]


def _rows(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return sorted((json.loads(line) for line in handle), key=lambda r: r["article_id"])


def cli(env: dict[str, str], *args: str):
    with pytest.MonkeyPatch.context() as patch:
        for name in ENV_NAMES:
            patch.setenv(name, env[name])
        return CliRunner().invoke(app, list(args))


def reader_args(reader: str, p: Pristine, out: Path) -> list[str]:
    return [a.format(out=out, **p.roles) for a in READERS[reader]]


# ---- the verdict table ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    kind: str
    damage: Damage
    # the key (token) that verify and the refusing readers name
    names: str
    # True: verify() of the newest snapshot names it too; None: outside the cheap check's scope (not asserted)
    cheap: bool | None
    # readers that must refuse (exit 1 / raise); every other reader must give the pristine archive's data
    fails: frozenset[str]
    # reader -> the token (or phrase) it names instead
    reader_names: dict[str, str] = field(default_factory=dict)
    # the damage removes an object: verify counts it as missing
    missing: bool = False
    api_error: type[Exception] = DamagedObject
    # readers not compared with the pristine archive (their output legitimately differs)
    unchecked: frozenset[str] = NONE


# Case(kind, damage, key named, cheap verify names it, readers that refuse)
CASES = [
    # 1. an index swapped for another valid index
    Case("index-swapped-for-parent-index", swap("index@3", "index@2"), "index@3", True, LATEST_INDEX),
    Case("older-index-swapped", swap("index@1", "index@2"), "index@1", None, frozenset({"article-at-1"})),
    # 2. a version object swapped for another valid version object
    Case("version-swapped-for-other-article", swap("edited@v2", "new@v1"), "edited@v2", True, EDITED_V2),
    Case("version-swapped-for-own-older", swap("edited@v2", "edited@v1"), "edited@v2", True, EDITED_V2),
    Case(
        "tombstone-swapped-for-live-version",
        swap("removed@v2", "removed@v1"),
        "removed@v2",
        True,
        frozenset({"article-removed"}),
    ),
    Case("older-version-swapped", swap("edited@v1", "edited2@v1"), "edited@v1", None, EDITED_V1),
    # 3. a pack swapped for another valid pack, or its valid lines reordered (a pack's key is the digest of its
    #    bytes, and the newest one is in the cheap check's scope)
    Case("pack-swapped", swap("pack@3", "pack@2"), "pack@3", True, EXPORT),
    Case("pack-lines-reordered", reverse_pack("pack@3"), "pack@3", True, EXPORT),
    # 4. truncated objects
    Case("version-truncated", truncate("edited@v2"), "edited@v2", True, EDITED_V2),
    Case("index-truncated", truncate("index@3"), "index@3", True, LATEST_INDEX),
    Case("pack-truncated", truncate("pack@3"), "pack@3", True, EXPORT),
    Case("manifest-truncated", truncate("manifest@3"), "manifest@3", True, HEAD),
    # 5. flipped bits
    Case("version-bit-flipped", bitflip("edited@v2"), "edited@v2", True, EDITED_V2),
    Case("index-bit-flipped", bitflip("index@3"), "index@3", True, LATEST_INDEX),
    Case("pack-bit-flipped", bitflip("pack@3"), "pack@3", True, EXPORT),
    Case("parent-manifest-bit-flipped", flip_run_id("manifest@2"), "manifest@2", True, PARENT),
    Case("version-not-gzip", replace("edited@v2", b'{"not": "gzip"}'), "edited@v2", True, EDITED_V2),
    # 6. missing objects
    Case("version-deleted", delete("edited@v2"), "edited@v2", True, EDITED_V2, missing=True),
    Case("older-version-deleted", delete("edited@v1"), "edited@v1", None, EDITED_V1, missing=True),
    Case("index-deleted", delete("index@3"), "index@3", True, LATEST_INDEX, missing=True),
    Case("pack-deleted", delete("pack@3"), "pack@3", True, EXPORT, missing=True),
    Case("older-pack-deleted", delete("pack@1"), "pack@1", True, EXPORT, missing=True),
    Case("warc-deleted", delete("warc@3"), "warc@3", True, NONE, missing=True),
    # 7. a manifest that is not a manifest
    Case("manifest-emptied", replace("manifest@3", b"{}"), "manifest@3", True, HEAD),
    Case("manifest-not-json", replace("manifest@3", b"\x00\xffnot json"), "manifest@3", True, HEAD),
    Case("parent-manifest-emptied", replace("manifest@2", b"{}"), "manifest@2", True, PARENT),
    # 8. a manifest with the wrong seq or the wrong parent
    Case("manifest-wrong-seq", swap("manifest@2", "manifest@1"), "manifest@2", True, PARENT),
    Case("head-manifest-wrong-seq", swap("manifest@3", "manifest@2"), "manifest@3", True, HEAD),
    Case("manifest-wrong-parent", edit_manifest("manifest@3", _set(parent=1)), "manifest@3", True, HEAD),
    # 9. a gap in the chain: the readers of snapshot 2 say it does not exist
    Case(
        "chain-gap",
        delete("manifest@2"),
        "manifest@2",
        True,
        frozenset({"snapshot-2", "article-at-2"}),
        reader_names={"snapshot-2": "no snapshot 2", "article-at-2": "no snapshot 2"},
        missing=True,
        api_error=NotFound,
        unchecked=frozenset({"snapshots"}),  # lists snapshots 1 and 3: the gap is verify's to report
    ),
    # 10. wrong ids inside a version, alone / with the index entry's digest / with the index and the head
    Case("version-ids-rewritten", rewrite_ids("edited@v2", "new@v1", 0), "edited@v2", True, EDITED_V2),
    Case(
        "version-ids-and-index-entry-rewritten",
        rewrite_ids("edited@v2", "new@v1", 1),
        "index@3",
        True,
        LATEST_INDEX,
    ),
    Case(
        "version-ids-rewritten-through-head-manifest",
        rewrite_ids("edited@v2", "new@v1", 2),
        "edited@v2",
        True,
        EDITED_V2 | EXPORT,
        reader_names={"export": "pack@3"},
        unchecked=frozenset({"snapshot", "snapshots"}),  # show the rewritten head: it is the root of trust
    ),
    # 11. a parent manifest swapped for a valid forgery (pointing at snapshot 1's index): the chain link catches it.
    #     PARENT readers read snapshot 2, whose referrer is snapshot 3's parent_sha256: they must not show it.
    Case(
        "parent-manifest-swapped",
        edit_manifest("manifest@2", _index_of_snapshot_1),
        "manifest@2",
        True,
        PARENT,
    ),
]
BY_KIND = {case.kind: case for case in CASES}
assert len(BY_KIND) == len(CASES)
assert all(r in READERS for case in CASES for r in case.fails | case.unchecked | set(case.reader_names))


@pytest.fixture(scope="module")
def damaged(pristine, seaweed):
    """One damaged copy per kind, made on first use and shared by that kind's (read-only) checks."""
    copies: dict[str, Copy] = {}

    def get(kind: str) -> Copy:
        if kind not in copies:
            copy = copy_of(pristine, seaweed, kind)
            if kind != "pristine":
                BY_KIND[kind].damage(pristine, copy.raw)
            copies[kind] = copy
        return copies[kind]

    return get


@pytest.fixture(scope="module")
def pristine_outputs(pristine, tmp_path_factory):
    """What each reader gives on the pristine archive (CLI output, and the API's result)."""
    tmp = tmp_path_factory.mktemp("pristine-out")
    outputs = {}
    archive = Archive(pristine.bucket)
    for reader in READERS:
        result = cli(pristine.env, *reader_args(reader, pristine, tmp / f"{reader}.jsonl.gz"))
        assert result.exit_code == 0, (reader, result.output)
        outputs[reader] = (result, api(reader, archive, pristine, tmp / f"{reader}-api.jsonl.gz"))
    return outputs


def _named(case: Case, p: Pristine, reader: str | None = None) -> str:
    token = case.reader_names.get(reader, case.names) if reader else case.names
    return p.key(token) if "@" in token else token


def _problem_lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


# ---- controls -------------------------------------------------------------------------------------------------
def test_pristine_copy_verifies_clean(pristine, damaged):
    copy = damaged("pristine")
    full = verify(copy.bucket, full=True)
    assert full.ok and (full.missing, full.mismatched) == (0, 0), full.problems
    assert full.snapshots == [1, 2, 3] and full.checked > 0 and full.orphans == []
    cheap = verify(copy.bucket)
    assert cheap.ok and (cheap.missing, cheap.mismatched) == (0, 0), cheap.problems
    for args in (("verify",), ("verify", "--full")):
        result = cli(copy.env, *args)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert (summary["missing"], summary["mismatched"]) == (0, 0)


@pytest.mark.parametrize("reader", READERS)
def test_pristine_copy_reads_like_the_original(pristine, damaged, pristine_outputs, reader, tmp_path):
    copy = damaged("pristine")
    expected, expected_api = pristine_outputs[reader]
    result = cli(copy.env, *reader_args(reader, pristine, tmp_path / "out.jsonl.gz"))
    assert result.exit_code == 0, result.output
    if reader == "export":
        assert _rows(tmp_path / "out.jsonl.gz") == expected_api
    else:
        assert result.output == expected.output
    assert api(reader, Archive(copy.bucket), pristine, tmp_path / "api.jsonl.gz") == expected_api


# ---- verify ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if c.cheap], ids=lambda c: c.kind)
def test_verify_newest_snapshot_detects(pristine, damaged, case):
    report = verify(damaged(case.kind).bucket)
    named = _named(case, pristine)
    assert not report.ok, f"{case.kind}: cheap verify found nothing ({report.summary()})"
    assert report.missing + report.mismatched > 0
    if case.missing:
        assert report.missing > 0, report.problems
    assert any(named in line for line in report.problems), f"{named} not named in {report.problems}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind)
def test_verify_full_detects(pristine, damaged, case):
    report = verify(damaged(case.kind).bucket, full=True)
    named = _named(case, pristine)
    assert not report.ok, f"{case.kind}: full verify found nothing ({report.summary()})"
    assert report.missing + report.mismatched > 0
    if case.missing:
        assert report.missing > 0, report.problems
    assert any(named in line for line in report.problems), f"{named} not named in {report.problems}"


@pytest.mark.parametrize(
    ("case", "full"),
    [(c, False) for c in CASES if c.cheap] + [(c, True) for c in CASES],
    ids=lambda v: v.kind if isinstance(v, Case) else ("full" if v else "cheap"),
)
def test_cli_verify_exits_1_naming_the_key(pristine, damaged, case, full):
    result = cli(damaged(case.kind).env, "verify", *(["--full"] if full else []))
    named = _named(case, pristine)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), f"raised {result.exception!r} (a traceback for the user)"
    summary = json.loads(result.stdout)
    assert summary["missing"] + summary["mismatched"] > 0
    assert named in result.stderr.replace("\n", ""), result.stderr
    lines = _problem_lines(result.stderr, "damaged:")
    assert any(named in line for line in lines), f"no one 'damaged:' line holds {named}:\n{result.stderr}"


# ---- readers ----------------------------------------------------------------------------------------------------
# The CLI is run for the readers a damage must stop (each run builds its own S3 client: ~0.5 s); the API, in
# process, for every reader: those that must refuse, and those that must give exactly the pristine archive's data.
READER_CASES = [(c, r) for c in CASES for r in READERS if r not in c.unchecked]
REFUSING = [(c, r) for c, r in READER_CASES if r in c.fails]


def _reader_id(value) -> str:
    if isinstance(value, Case):
        return value.kind
    return value


@pytest.mark.parametrize(("case", "reader"), REFUSING, ids=_reader_id)
def test_cli_reader_refuses(pristine, damaged, case, reader, tmp_path):
    """Exit 1, one `error:` line naming the key; no traceback, no article text, no export file."""
    out = tmp_path / "export" / "out.jsonl.gz"
    result = cli(damaged(case.kind).env, *reader_args(reader, pristine, out))
    output = result.output
    named = _named(case, pristine, reader)
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{case.kind}: `{reader}` raised {result.exception!r} (a traceback for the user)"
    )
    assert result.exit_code == 1, f"{case.kind}: `{reader}` exited {result.exit_code}, printed:\n{output}"
    leaked = pristine.foreign_text(output)
    assert not leaked, f"{case.kind}: `{reader}` printed article text {leaked}"
    if reader == "export":
        assert not out.exists() and not list(out.parent.glob("*")), "a failed export left a file"
    assert named in output.replace("\n", ""), f"{case.kind}: `{reader}` does not name {named}:\n{output}"
    printed = [line for line in output.splitlines() if line.strip()]
    assert len(printed) == 1 and printed[0].startswith("error:") and named in printed[0], (
        f"{case.kind}: `{reader}` should print one 'error:' line naming {named}, printed {printed}"
    )


@pytest.mark.parametrize(("case", "reader"), READER_CASES, ids=_reader_id)
def test_api_reader(pristine, damaged, pristine_outputs, case, reader, tmp_path):
    archive = Archive(damaged(case.kind).bucket)
    out = tmp_path / "out.jsonl.gz"
    if reader not in case.fails:
        assert api(reader, archive, pristine, out) == pristine_outputs[reader][1], (
            f"{case.kind}: {reader} differs from the pristine archive's"
        )
        return
    named = _named(case, pristine, reader)
    with pytest.raises(case.api_error) as raised:
        value = api(reader, archive, pristine, out)
        pytest.fail(f"{case.kind}: {reader} returned {str(value)[:300]}")
    assert named in str(raised.value), f"{case.kind}: {reader} raised {raised.value!r}, not naming {named}"
    if reader == "export":
        assert not out.exists() and not list(tmp_path.glob(".out*")), "a failed export left a file"


# ---- gc -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.kind)
def test_gc_refuses_and_deletes_nothing(damaged, case):
    """gc reads every reference verified: on a damaged archive it refuses, even with --apply and no grace."""
    copy = damaged(case.kind)
    before = copy.raw.listing()
    result = cli(copy.env, "gc", "--apply", "--grace", "0")
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert copy.raw.listing() == before, f"{case.kind}: gc deleted {sorted(before - copy.raw.listing())}"
    assert result.exit_code == 1, f"{case.kind}: gc ran on a damaged archive:\n{result.output}"
    assert "does not verify" in result.output.replace("\n", " "), result.output
