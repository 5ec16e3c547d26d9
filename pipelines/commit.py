"""Commit: one run's observations become immutable versions and one new point-in-time snapshot.

The commit point is a create-only write of ``snapshots/{seq}.json``. Everything it references is written first,
under content-addressed keys, so:

- a crash at any point leaves no visible snapshot, only unreferenced objects (``briefs gc`` removes them);
- two commits racing for the same ``seq`` cannot both win (412, or AWS's 409): the loser re-reads the head and
  plans again, and the causality rules of ``pipelines.plan`` keep an older observation from replacing a newer one;
- a retried commit of the same staged input finds its receipt (``commits/{run}/``, written before the manifest)
  with one listing, however many snapshots came after it, and returns that snapshot;
- reprocessing a run (same run id, new observations) commits what differs from the head, and is a no-op when
  nothing does.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import msgspec

from spiders.sites import SiteProfile, load_profile

from . import chaos, layout
from .clean import extractor
from .documents import (
    FORMAT,
    CleanedRecord,
    CommitReceipt,
    DamagedObject,
    Extractor,
    IndexEntry,
    IndexRef,
    Manifest,
    digest,
    encode,
)
from .plan import Head, Plan, plan
from .storage import AlreadyExists, Bucket, StorageError
from .verified import check_link, read_index, read_manifest, snapshot_seqs

log = logging.getLogger("insight_briefs.commit")

# The index is a base plus deltas (docs/storage.md): compact into a new base when a snapshot would carry more
# than this many deltas, or deltas holding more entries than this share of the base. A cold read fetches the
# base and the deltas in parallel; a nightly run writes only the entries it changed.
MAX_INDEX_DELTAS = 32
DELTA_RATIO = 0.1


class CommitConflict(StorageError):
    """Other commits kept winning the race for the next snapshot; nothing of this run is visible."""


@dataclass
class CommitResult:
    seq: int
    manifest: Manifest
    created: bool
    versions_written: int = 0
    objects_written: int = 0
    bytes_written: int = 0
    # created; found: this input was already committed (a retry); unchanged: a reprocessed run changed nothing
    outcome: Literal["created", "found", "unchanged"] = "created"


def read_head(bucket: Bucket) -> Head:
    """The newest snapshot, verified: its manifest, its link to its parent, and its index."""
    seqs = snapshot_seqs(bucket)
    if not seqs:
        return Head(0, {})
    if seqs != list(range(1, len(seqs) + 1)):
        missing = sorted(set(range(1, seqs[-1] + 1)) - set(seqs))
        raise DamagedObject(
            f"snapshots/: the chain has gaps (missing {missing[:5]}); run `briefs verify --full`"
        )
    snapshot = read_manifest(bucket, seqs[-1])
    manifest = snapshot.manifest
    if manifest.parent:
        check_link(manifest, read_manifest(bucket, manifest.parent))
    return Head(
        manifest.seq,
        read_index(bucket, manifest),
        snapshot.sha256,
        manifest.created_at,
        dict(manifest.high_water),
        manifest.index_base,
        list(manifest.index_deltas),
    )


def typed_records(records: Iterable[CleanedRecord | dict]) -> list[CleanedRecord]:
    """Cleaned records, validated: a malformed one stops the commit with its position, never half-commits."""
    typed = []
    for number, record in enumerate(records, 1):
        if isinstance(record, CleanedRecord):
            typed.append(record)
            continue
        try:
            typed.append(msgspec.convert(record, CleanedRecord))
        except msgspec.ValidationError as exc:
            raise DamagedObject(f"cleaned record {number}: {exc}") from None
    return typed


def input_digest(records: list[CleanedRecord], high_water: dict[str, str]) -> str:
    """What a commit was asked to do: equal staged input, equal digest (how a retry knows itself).

    The sha256 of the encoded records and the marks, one per line, hashed as they are encoded: the input's
    whole encoding at once cost 380 MB at 20,000 records."""
    hashed = hashlib.sha256()
    for record in records:
        hashed.update(encode(record) + b"\n")
    hashed.update(encode(dict(sorted(high_water.items()))))
    return hashed.hexdigest()


def upload_warcs(bucket: Bucket, run_id: str, warc_dir: Path | None, hook=lambda key: None) -> list[str]:
    """WARC files go first: every version written later points into them."""
    keys = []
    for path in sorted(warc_dir.glob("*.warc.gz")) if warc_dir and warc_dir.exists() else []:
        key = layout.warc_key(run_id, path.name)
        hook(key)
        if not bucket.exists(key):
            bucket.upload_file(path, key)
        keys.append(key)
    return keys


def staged_warcs(bucket: Bucket, run_id: str) -> list[str]:
    """The run's WARC files already in the bucket (the crawl task uploaded them)."""
    prefix = layout.warc_key(run_id, "")
    return [o["key"] for o in bucket.list(prefix) if o["key"].endswith(".warc.gz")]


def commit_run(
    bucket: Bucket,
    run_id: str,
    records: Iterable[CleanedRecord | dict],
    run_info: dict,
    warc_dir: Path | None = None,
    high_water: dict | None = None,
    before_write: Callable[[str], None] | None = None,
    max_attempts: int = 20,
    threads: int = 16,
    profile: SiteProfile | None = None,
) -> CommitResult:
    """Commit one run's cleaned records as the next snapshot (see the module docstring for the guarantees)."""
    hook = before_write or chaos.commit_hook() or (lambda key: None)
    profile = profile or load_profile()
    typed = typed_records(records)
    high_water = {k: v for k, v in (high_water or {}).items() if v}
    wanted = input_digest(typed, high_water)
    bucket.check()
    bucket.ensure_create_only()
    warc_keys = upload_warcs(bucket, run_id, warc_dir, hook) if warc_dir else staged_warcs(bucket, run_id)
    for _attempt in range(max_attempts):
        head = read_head(bucket)
        earlier = _earlier_commits(bucket, run_id)
        for manifest in earlier:
            if manifest.input_sha256 == wanted:
                log.info("run %s already committed this input as snapshot %s", run_id, manifest.seq)
                return CommitResult(manifest.seq, manifest, created=False, outcome="found")
        work = plan(head, typed, run_id, profile.name)
        if earlier and not work.changes_anything:
            log.info(
                "run %s reprocessed: nothing differs from snapshot %s; no new snapshot", run_id, head.seq
            )
            return CommitResult(earlier[-1].seq, earlier[-1], created=False, outcome="unchanged")
        written = _write_objects(bucket, work, hook, threads, head)
        manifest = _manifest(head, run_id, wanted, run_info, work, written, warc_keys, high_water, profile)
        receipt = CommitReceipt(format=FORMAT, run_id=run_id, input_sha256=wanted, seq=manifest.seq)
        receipt_key = layout.receipt_key(run_id, manifest.seq, wanted)
        hook(receipt_key)
        bucket.put(receipt_key, encode(receipt), "application/json")
        snapshot = layout.snapshot_key(manifest.seq)
        hook(snapshot)
        try:
            bucket.put(snapshot, encode(manifest), "application/json", create_only=True)
        except AlreadyExists:  # 412, or 409 from a store that saw the race in flight
            log.info(
                "snapshot %s was taken by a concurrent commit; re-planning on the new head", manifest.seq
            )
            continue
        log.info("committed snapshot %s: %s", manifest.seq, msgspec.to_builtins(manifest.counts))
        return CommitResult(
            manifest.seq,
            manifest,
            created=True,
            versions_written=written["versions"],
            objects_written=written["objects"] + 2,
            bytes_written=written["bytes"],
        )
    raise CommitConflict(
        f"gave up after {max_attempts} attempts: other commits kept taking the next snapshot"
    )


def _earlier_commits(bucket: Bucket, run_id: str) -> list[Manifest]:
    """Snapshots this run id already committed, oldest first, found through its receipts (one listing)."""
    manifests = {}
    for obj in bucket.list(layout.receipts_prefix(run_id)):
        parts = layout.receipt_parts(obj["key"])
        if parts is None or parts[0] in manifests:
            continue
        try:
            manifest = read_manifest(bucket, parts[0]).manifest
        except DamagedObject:
            if bucket.exists(layout.snapshot_key(parts[0])):
                raise
            continue  # the attempt never reached its manifest: a crash, or a race lost before writing
        if manifest.run_id == run_id and manifest.input_sha256.startswith(parts[1]):
            manifests[parts[0]] = manifest
    return [manifests[seq] for seq in sorted(manifests)]


def _write_objects(bucket: Bucket, work: Plan, hook, threads: int, head: Head) -> dict:
    """Versions, their pack, then the index: plain PUTs of content-addressed keys (a retry rewrites the same
    bytes, which also refreshes their age for gc's grace period)."""
    keys = sorted(work.versions)
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip, mtime 0: as gzip.compress(..., mtime=0)
    pack_body = b"".join(packer.compress(encode(work.versions[k]) + b"\n") for k in keys) + packer.flush()
    pack = layout.pack_key(digest(pack_body)) if keys else None
    for line_number, key in enumerate(keys):
        aid = work.versions[key].article_id
        work.index[aid] = msgspec.structs.replace(work.index[aid], pack=pack, pack_line=line_number)
    base, deltas, index_file = _index_files(head, work.index)
    extra = [(pack, pack_body)] if pack else []
    if index_file:
        extra.append(index_file)

    def put(item: tuple[str, bytes]) -> int:
        key, body = item
        hook(key)
        bucket.put(key, body, "application/json" if key.endswith(".json") else "application/gzip")
        return len(body)

    def put_version(key: str) -> int:  # compressed in the thread: never every version's body at once
        return put((key, gzip.compress(encode(work.versions[key]), mtime=0)))

    with ThreadPoolExecutor(threads) as pool:
        sizes = list(pool.map(put_version, keys))
    sizes += [put(item) for item in extra]
    return {
        "versions": len(keys),
        "objects": len(sizes),
        "bytes": sum(sizes),
        "pack": pack,
        "index_base": base,
        "index_deltas": deltas,
    }


def _index_files(
    head: Head, index: Mapping[str, IndexEntry]
) -> tuple[IndexRef, list[IndexRef], tuple[str, bytes] | None]:
    """How the new index is stored: the head's base plus one more delta of the entries this commit changed,
    or a new whole base (compaction) once the deltas are many or large. Returns (base, deltas, file to write or
    None when nothing changed: a quiet night writes only its manifest)."""
    changed = [entry for aid, entry in index.items() if head.index.get(aid) != entry]
    if not changed and head.index_base is not None:
        return head.index_base, head.index_deltas, None
    base = head.index_base
    in_deltas = sum(ref.articles for ref in head.index_deltas) + len(changed)
    if (
        base is not None
        and set(head.index) <= set(index)  # a delta can add and replace entries, never drop one
        and len(head.index_deltas) < MAX_INDEX_DELTAS
        and in_deltas <= DELTA_RATIO * base.articles
    ):
        body, ref = _index_body(changed)
        return base, [*head.index_deltas, ref], (ref.key, body)
    body, ref = _index_body(list(index.values()))
    return ref, [], (ref.key, body)


def _index_body(entries: list[IndexEntry]) -> tuple[bytes, IndexRef]:
    rows = sorted(entries, key=lambda e: (len(e.article_id), e.article_id))
    body = gzip.compress(b"".join(encode(r) + b"\n" for r in rows), mtime=0)
    sha = digest(body)
    return body, IndexRef(key=layout.index_key(sha), sha256=sha, articles=len(rows))


def _manifest(
    head: Head,
    run_id: str,
    input_sha: str,
    run_info: dict,
    work: Plan,
    written: dict,
    warc_keys: list[str],
    high_water: dict[str, str],
    profile: SiteProfile,
) -> Manifest:
    marks = dict(head.high_water)
    for edition, mark in high_water.items():
        if edition not in marks or mark > marks[edition]:
            marks[edition] = mark
    cited = {v.provenance.warc for v in work.versions.values() if v.provenance.warc}
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return Manifest(
        format=FORMAT,
        site=profile.name,
        seq=work.seq,
        parent=head.seq or None,
        parent_sha256=head.sha256,
        run_id=run_id,
        input_sha256=input_sha,
        created_at=max(now, head.created_at or now),  # monotonic along the chain: `--at DATE` bisects it
        run=run_info,
        index_base=written["index_base"],
        index_deltas=written["index_deltas"],
        counts=work.typed_counts(),
        changes=work.typed_changes(),
        high_water=marks,
        warc=sorted(set(warc_keys) | cited),
        packs=[written["pack"]] if written["pack"] else [],
        extractor=Extractor(**extractor(profile)),
    )
