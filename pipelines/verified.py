"""Verified reads: every object is checked against what its referrer recorded before anyone sees its content.

The chain of trust: a manifest is checked against its own key (``seq``) and its ``parent``; the index against the
manifest's ``index.sha256``; each version (object or pack line) against its index entry's ``sha256`` and ids; a
history step against ``previous_sha256``. Anything missing, truncated, malformed or swapped raises
``DamagedObject`` naming the key and what was expected: readers never return another object's content.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import msgspec

from . import layout
from .documents import (
    DamagedObject,
    IndexEntry,
    IndexRef,
    Manifest,
    Version,
    decode,
    decoder,
    digest,
)
from .storage import Bucket, MissingObject


@dataclass(frozen=True)
class Snapshot:
    """A verified manifest and the digest of its bytes (what the next manifest records as ``parent_sha256``)."""

    manifest: Manifest
    sha256: str


def snapshot_seqs(bucket: Bucket) -> list[int]:
    """Every committed snapshot number, ascending (one listing)."""
    return sorted(s for o in bucket.list("snapshots/") if (s := layout.snapshot_seq(o["key"])) is not None)


def fetch(bucket: Bucket, key: str, referrer: str) -> bytes:
    try:
        return bucket.get(key)
    except MissingObject:
        raise DamagedObject(f"{key}: missing (referenced by {referrer})") from None


def gunzip(data: bytes, key: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise DamagedObject(f"{key}: not a whole gzip stream ({type(exc).__name__}: {exc})") from None


def parse_manifest(data: bytes, seq: int) -> Snapshot:
    """Validate a manifest's bytes against the key it was read from."""
    key = layout.snapshot_key(seq)
    manifest = decode(Manifest, data, key)
    if manifest.seq != seq:
        raise DamagedObject(f"{key}: says it is snapshot {manifest.seq}, expected {seq}")
    expected_parent = seq - 1 if seq > 1 else None
    if manifest.parent != expected_parent:
        raise DamagedObject(f"{key}: parent is {manifest.parent}, expected {expected_parent}")
    if (manifest.parent_sha256 is None) != (expected_parent is None):
        raise DamagedObject(
            f"{key}: parent digest is {manifest.parent_sha256!r} for parent {expected_parent}"
        )
    for ref in manifest.index_files:
        if ref.key != layout.index_key(ref.sha256):
            raise DamagedObject(f"{key}: index key {ref.key} does not match its digest")
    return Snapshot(manifest, digest(data))


def read_manifest(bucket: Bucket, seq: int) -> Snapshot:
    key = layout.snapshot_key(seq)
    return parse_manifest(fetch(bucket, key, f"the snapshot list ({seq})"), seq)


def check_link(child: Manifest, parent: Snapshot) -> None:
    """The chain: a manifest records the digest of its parent's bytes, so a swapped parent is detected."""
    if child.parent_sha256 != parent.sha256:
        raise DamagedObject(
            f"{layout.snapshot_key(parent.manifest.seq)}: digest {parent.sha256[:12]}… is not the "
            f"{(child.parent_sha256 or '')[:12]}… that snapshot {child.seq} recorded for its parent"
        )


class Index(Mapping[str, IndexEntry]):
    """A snapshot's index, by article id. Its files were checked whole (digest, line count, one line per id);
    each entry is validated when first read, so a point read of a 20,000-article archive decodes one entry,
    not all of them."""

    def __init__(self, files: list[tuple[str, dict[str, bytes]]]):
        self._files = files  # (key, its lines by article id), base first: what a message names
        self._lines: dict[str, bytes] = {}
        for _, lines in files:
            self._lines.update(lines)
        self._entries: dict[str, IndexEntry] = {}

    def _where(self, article_id: str) -> str:
        key, lines = next((key, lines) for key, lines in reversed(self._files) if article_id in lines)
        return f"{key} line {list(lines).index(article_id) + 1}"

    def __getitem__(self, article_id: str) -> IndexEntry:
        entry = self._entries.get(article_id)
        if entry is None:
            try:
                entry = _ENTRIES.decode(self._lines[article_id])
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                raise DamagedObject(f"{self._where(article_id)}: not a valid IndexEntry ({exc})") from None
            if entry.article_id != article_id:  # the scan and the full decode disagree: not canonical JSON
                raise DamagedObject(
                    f"{self._where(article_id)}: entry of article {entry.article_id} read as {article_id}"
                )
            self._entries[article_id] = entry
        return entry

    def __contains__(self, article_id: object) -> bool:
        return article_id in self._lines

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)


class _ArticleId(msgspec.Struct):
    article_id: str


_ids = msgspec.json.Decoder(_ArticleId)
_ENTRIES = decoder(IndexEntry)


def read_index(bucket: Bucket, manifest: Manifest) -> Index:
    """A snapshot's index: its base with its deltas applied in order, each file checked against the digest and
    line count the manifest recorded, and the result against the manifest's article count."""
    refs = manifest.index_files
    where = layout.snapshot_key(manifest.seq)
    if len(refs) == 1:
        parts = [_index_file(bucket, refs[0], where)]
    else:  # one round trip's latency, not one per delta
        with ThreadPoolExecutor(min(8, len(refs))) as pool:
            parts = list(pool.map(lambda ref: _index_file(bucket, ref, where), refs))
    index = Index([(ref.key, lines) for ref, lines in zip(refs, parts, strict=True)])
    if len(index) != manifest.counts.articles:
        raise DamagedObject(
            f"{manifest.index_base.key}: {len(index)} articles with {len(refs) - 1} deltas applied, snapshot "
            f"{manifest.seq} recorded {manifest.counts.articles}"
        )
    return index


def _index_file(bucket: Bucket, ref: IndexRef, referrer: str) -> dict[str, bytes]:
    """One index file (a base or a delta) against its recorded digest and line count: its lines by article id."""
    data = fetch(bucket, ref.key, referrer)
    if digest(data) != ref.sha256:
        raise DamagedObject(
            f"{ref.key}: digest {digest(data)[:12]}… is not the {ref.sha256[:12]}… that {referrer} recorded"
        )
    lines: dict[str, bytes] = {}
    for line in gunzip(data, ref.key).splitlines():
        try:
            article_id = _ids.decode(line).article_id  # the rest of the entry is validated when it is read
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise DamagedObject(f"{ref.key} line {len(lines) + 1}: not a valid IndexEntry ({exc})") from None
        if article_id in lines:
            raise DamagedObject(f"{ref.key} line {len(lines) + 1}: article {article_id} listed twice")
        lines[article_id] = line
    if len(lines) != ref.articles:
        raise DamagedObject(f"{ref.key}: {len(lines)} articles, {referrer} recorded {ref.articles}")
    return lines


def check_version(data: bytes, entry: IndexEntry, where: str) -> Version:
    """A version's JSON (gunzipped object or pack line) against the index entry that pointed to it."""
    if digest(data) != entry.sha256:
        raise DamagedObject(
            f"{where}: digest {digest(data)[:12]}… is not the {entry.sha256[:12]}… recorded for article "
            f"{entry.article_id} v{entry.version}"
        )
    version = decode(Version, data, where)
    expected = (entry.article_id, entry.version, entry.status, entry.fingerprint)
    found = (version.article_id, version.version, version.status, version.fingerprint)
    if found != expected:
        raise DamagedObject(f"{where}: holds {found[:3]}, expected {expected[:3]}")
    return version


def read_version(bucket: Bucket, entry: IndexEntry) -> Version:
    data = gunzip(fetch(bucket, entry.key, f"the index entry of article {entry.article_id}"), entry.key)
    return check_version(data, entry, entry.key)


def read_previous(bucket: Bucket, version: Version) -> Version | None:
    """One step back in a history, checked against the digest the newer version recorded."""
    if version.previous is None:
        return None
    key = version.previous
    data = gunzip(fetch(bucket, key, f"v{version.version} of article {version.article_id}"), key)
    if digest(data) != version.previous_sha256:
        raise DamagedObject(f"{key}: digest is not the one v{version.version} recorded for its predecessor")
    older = decode(Version, data, key)
    if (older.article_id, older.version) != (version.article_id, version.version - 1):
        raise DamagedObject(
            f"{key}: holds article {older.article_id} v{older.version}, expected {version.article_id} "
            f"v{version.version - 1}"
        )
    return older


def read_pack(bucket: Bucket, key: str, referrer: str) -> list[bytes]:
    """A pack's lines; its key names the digest of its bytes, so a swapped pack is refused whole."""
    data = fetch(bucket, key, referrer)
    if layout.pack_key(digest(data)) != key:
        raise DamagedObject(f"{key}: digest {digest(data)[:12]}… is not the one its key names")
    return gunzip(data, key).split(b"\n")


def added_versions(bucket: Bucket, manifest: Manifest) -> Iterator[tuple[bytes, Version]]:
    """The versions a snapshot added, from its packs in order (each pack checked against the digest its key
    names; the manifest that names them was verified): each version's JSON line, whose digest names its object,
    and the document."""
    for pack in manifest.packs:
        for number, line in enumerate(read_pack(bucket, pack, layout.snapshot_key(manifest.seq))):
            if line.strip():
                yield line, decode(Version, line, f"{pack} line {number}")


def versions_of(bucket: Bucket, entries: Iterable[IndexEntry], pool) -> Iterator[tuple[IndexEntry, Version]]:
    """(entry, version) pairs, each verified: packed versions a pack at a time, the rest object by object."""
    by_pack: dict[str, list[IndexEntry]] = {}
    loose: list[IndexEntry] = []
    for entry in entries:
        (by_pack.setdefault(entry.pack, []) if entry.pack else loose).append(entry)
    for pack, members in sorted(by_pack.items()):
        lines = read_pack(bucket, pack, f"the index entries of {len(members)} articles")
        for entry in members:
            line = (
                lines[entry.pack_line]
                if entry.pack_line is not None and entry.pack_line < len(lines)
                else b""
            )
            yield entry, check_version(line, entry, f"{pack} line {entry.pack_line}")
    batch = 500
    for start in range(0, len(loose), batch):
        chunk = loose[start : start + batch]
        yield from zip(chunk, pool.map(lambda e: read_version(bucket, e), chunk), strict=True)
