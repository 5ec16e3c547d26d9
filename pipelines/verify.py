"""``briefs verify``: check the chain, every reference and every digest; count what is missing or wrong.

The cheap form (one snapshot, by default the newest) checks its manifest, the link to its parent, its index, the
versions it added (object and pack line), and that every pack and WARC file it refers to exists: what the DAG runs
after each commit. ``--full`` checks every manifest, index, pack, version and history link, and counts objects
that no snapshot references (orphans: leftovers of crashed commits, which ``briefs gc`` removes).
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import layout
from .documents import DamagedObject, IndexEntry, Manifest, Version, decode, digest, encode
from .storage import Bucket, StorageError
from .verified import Snapshot, check_link, fetch, gunzip, read_index, read_manifest, read_pack, snapshot_seqs

# Working state, not archive content: gc's business (or, for state/, the crawler's cache), never orphans.
STAGING = ("runs/", "commits/", "probes/", "state/")


@dataclass
class Report:
    snapshots: list[int] = field(default_factory=list)
    checked: int = 0
    missing: int = 0
    mismatched: int = 0
    orphaned: int = 0
    problems: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.mismatched)

    def damage(self, exc: DamagedObject | StorageError) -> None:
        text = str(exc)
        if ": missing" in text or "missing object" in text:
            self.missing += 1
        else:
            self.mismatched += 1
        self.problems.append(text)

    def summary(self) -> dict:
        return {
            "snapshots": f"{self.snapshots[0]}..{self.snapshots[-1]}" if self.snapshots else "none",
            "checked": self.checked,
            "missing": self.missing,
            "mismatched": self.mismatched,
            "orphaned": self.orphaned,
        }


@dataclass
class References:
    """Everything the snapshots refer to, from their manifests and packs (what gc must never delete)."""

    manifests: dict[int, Manifest] = field(default_factory=dict)
    indexes: set[str] = field(default_factory=set)
    packs: set[str] = field(default_factory=set)
    versions: dict[str, tuple[str, Version]] = field(default_factory=dict)  # key -> (sha256, document)
    placement: dict[str, tuple[str, int]] = field(default_factory=dict)  # version key -> (pack, line)
    warc: set[str] = field(default_factory=set)

    def keys(self) -> set[str]:
        return self.indexes | self.packs | set(self.versions) | self.warc


class _Checker:
    def __init__(self, bucket: Bucket, report: Report, threads: int):
        self.bucket, self.report, self.threads = bucket, report, threads

    def attempt(self, fn: Callable, *args):
        """Run one check; damage is counted and reported, never raised."""
        self.report.checked += 1
        try:
            return fn(*args)
        except (DamagedObject, StorageError) as exc:
            self.report.damage(exc)
            return None

    def manifests(self, seqs: list[int], everything: bool) -> dict[int, Snapshot]:
        """Every manifest in `seqs` and the links between neighbours; with `everything`, gaps in 1..max too."""
        expected = list(range(1, seqs[-1] + 1)) if seqs and everything else []
        for seq in sorted(set(expected) - set(seqs)):
            self.report.damage(DamagedObject(f"{layout.snapshot_key(seq)}: missing (a gap in the chain)"))
        with ThreadPoolExecutor(self.threads) as pool:
            loaded = dict(
                zip(seqs, pool.map(lambda s: self.attempt(read_manifest, self.bucket, s), seqs), strict=True)
            )
        snapshots = {seq: snap for seq, snap in loaded.items() if snap is not None}
        for seq, snap in snapshots.items():
            parent = snapshots.get(seq - 1)
            if parent is not None:
                self.attempt(check_link, snap.manifest, parent)
        return snapshots

    def pack(self, key: str, refs: References) -> None:
        lines = self.attempt(read_pack, self.bucket, key, "a manifest's packs")
        for number, line in enumerate(lines or [], 1):
            if not line:
                continue
            version = self.attempt(decode, Version, line, f"{key} line {number - 1}")
            if version is not None:
                sha = digest(line)
                version_key = layout.version_key(version.article_id, version.version, sha)
                refs.versions[version_key] = (sha, version)
                refs.placement[version_key] = (key, number - 1)

    def version_objects(self, refs: References, keys: list[str]) -> None:
        """Each version object against its pack line. One listing gives every object's size and ETag; where the
        store's ETag is the MD5 of the bytes (SeaweedFS, MinIO, AWS S3 without KMS) that settles it without a
        read, since the object is the deterministic gzip of the line. Anything else is read and hashed."""
        listed = {o["key"]: o for o in self.bucket.list("articles/")}

        def check(key: str) -> None:
            sha, version = refs.versions[key]
            found = listed.get(key)
            if found is None:
                raise DamagedObject(f"{key}: missing (listed in a pack)")
            body = gzip.compress(encode(version), mtime=0)
            if (
                found["size"] == len(body)
                and found["etag"] == hashlib.md5(body, usedforsecurity=False).hexdigest()
            ):
                return
            data = gunzip(fetch(self.bucket, key, "a pack line"), key)
            if digest(data) != sha:
                raise DamagedObject(f"{key}: digest is not the one its pack line has")

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(lambda k: self.attempt(check, k), keys))

    def entries(self, index: Mapping[str, IndexEntry], refs: References, where: str) -> None:
        for entry in index.values():
            known = refs.versions.get(entry.key)
            if known is None:
                self.attempt(_raise, f"{entry.key}: missing from every pack (index {where})")
                continue
            self.attempt(_entry_matches, entry, known, refs.placement.get(entry.key))

    def exists(self, keys: set[str], what: str) -> None:
        with ThreadPoolExecutor(self.threads) as pool:
            found = dict(zip(keys, pool.map(self.bucket.exists, keys), strict=True))
        for key, present in sorted(found.items()):
            self.report.checked += 1
            if not present:
                self.report.damage(DamagedObject(f"{key}: missing ({what})"))


def _every_entry(bucket: Bucket, manifest: Manifest) -> dict[str, IndexEntry]:
    """The whole index, every entry decoded and validated now (a reader decodes only what it reads)."""
    return dict(read_index(bucket, manifest))


def _raise(message: str) -> None:
    raise DamagedObject(message)


def _entry_matches(entry: IndexEntry, known: tuple[str, Version], placed: tuple[str, int] | None) -> None:
    sha, version = known
    if entry.pack is not None and placed != (entry.pack, entry.pack_line):
        raise DamagedObject(
            f"{entry.pack}: line {entry.pack_line} is not article {entry.article_id} v{entry.version}, "
            "as its index entry says"
        )
    if sha != entry.sha256:
        raise DamagedObject(f"{entry.key}: digest is not the one article {entry.article_id}'s entry recorded")
    found = (version.article_id, version.version, version.status, version.fingerprint)
    if found != (entry.article_id, entry.version, entry.status, entry.fingerprint):
        raise DamagedObject(f"{entry.key}: holds {found[:3]}, its index entry expects another version")


def _history(refs: References, report: Report) -> None:
    for key, (_, version) in refs.versions.items():
        if version.previous is None:
            continue
        report.checked += 1
        older = refs.versions.get(version.previous)
        if older is None or older[0] != version.previous_sha256 or older[1].version != version.version - 1:
            report.damage(
                DamagedObject(f"{key}: its previous version {version.previous} is missing or another")
            )


def verify(bucket: Bucket, at: int | None = None, full: bool = False, threads: int = 32) -> Report:
    """Check the archive; damage is reported (counts and one line each), never raised."""
    report = Report()
    checker = _Checker(bucket, report, threads)
    seqs = snapshot_seqs(bucket)
    if not seqs:
        return report
    if full:
        references(bucket, report, threads, checker)
        return report
    seq = at or seqs[-1]
    if seq not in seqs:
        raise DamagedObject(
            f"{layout.snapshot_key(seq)}: no such snapshot (there are {seqs[0]} to {seqs[-1]})"
        )
    report.snapshots = [seq]
    snapshots = checker.manifests([s for s in seqs if s in (seq - 1, seq)], everything=False)
    if seq > 1 and seq - 1 not in seqs:
        report.damage(
            DamagedObject(f"{layout.snapshot_key(seq - 1)}: missing (the parent of snapshot {seq})")
        )
    if seq not in snapshots:
        return report
    manifest, refs = snapshots[seq].manifest, References()
    for pack in manifest.packs:
        checker.pack(pack, refs)
    checker.version_objects(refs, sorted(refs.versions))
    index = checker.attempt(_every_entry, bucket, manifest) or {}
    for entry in index.values():
        if entry.key in refs.versions:
            checker.attempt(_entry_matches, entry, refs.versions[entry.key], refs.placement[entry.key])
        elif entry.pack in manifest.packs:
            checker.attempt(
                _raise, f"{entry.pack}: has no line for article {entry.article_id} v{entry.version}"
            )
    checker.exists({e.pack for e in index.values() if e.pack} | set(manifest.warc), f"snapshot {seq}")
    return report


def references(
    bucket: Bucket, report: Report | None = None, threads: int = 32, checker: _Checker | None = None
) -> References:
    """Every reference of every snapshot, verified on the way (``verify --full``; gc's list of what to keep)."""
    report = report if report is not None else Report()
    checker = checker or _Checker(bucket, report, threads)
    seqs = snapshot_seqs(bucket)
    report.snapshots = seqs
    refs = References()
    refs.manifests = {seq: snap.manifest for seq, snap in checker.manifests(seqs, everything=True).items()}
    for manifest in refs.manifests.values():
        refs.indexes.update(ref.key for ref in manifest.index_files)
        refs.packs.update(manifest.packs)
        refs.warc.update(manifest.warc)
    for pack in sorted(refs.packs):
        checker.pack(pack, refs)
    checker.version_objects(refs, sorted(refs.versions))
    seen_indexes: set[tuple] = set()
    for manifest in refs.manifests.values():
        files = tuple(ref.key for ref in manifest.index_files)
        if (*files, manifest.counts.articles) in seen_indexes:  # quiet nights reuse their parent's files
            continue
        seen_indexes.add((*files, manifest.counts.articles))
        index = checker.attempt(_every_entry, bucket, manifest)
        if index is not None:
            checker.entries(index, refs, files[-1])
    _history(refs, report)
    cited = {v.provenance.warc for _, v in refs.versions.values() if v.provenance.warc}
    listed = {o["key"] for o in bucket.list("warc/")}
    for key in sorted((refs.warc | cited) - listed):
        report.damage(DamagedObject(f"{key}: missing (a WARC file a snapshot cites)"))
    report.checked += len(refs.warc | cited)
    refs.warc |= cited
    keep = refs.keys() | {layout.snapshot_key(s) for s in seqs}
    for obj in bucket.list(""):
        key = obj["key"]
        if (
            key not in keep
            and not key.startswith(STAGING)
            and not layout.is_derived(key)
            and not re.fullmatch(r"snapshots/\d{8}\.json", key)
        ):
            report.orphaned += 1
            report.orphans.append(key)
    return refs
