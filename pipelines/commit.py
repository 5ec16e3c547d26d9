"""Dedupe and commit: cleaned records become immutable versions and one new point-in-time snapshot.

The commit point is a create-only write of ``snapshots/{seq}.json``. Everything it references (WARC files, version
objects, the index) is written first under keys that never change meaning, so:

- a crash at any point leaves no visible snapshot, only unreferenced objects that a retry reuses;
- two commits racing for the same ``seq`` cannot both win: the loser re-reads the new head and rebases;
- re-committing a run that already committed returns that snapshot instead of writing another.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from . import chaos, layout
from .clean import EXTRACTOR
from .storage import AlreadyExists, Bucket, StorageError, jsonl_gz

log = logging.getLogger("insight_briefs.commit")
SITE = "insightcrime"
IDEMPOTENCY_LOOKBACK = 10  # manifests searched for this run's id before committing again


class CommitConflict(StorageError):
    """Other commits kept winning the race for the next snapshot; nothing of this run is visible."""


def article_id(record: dict) -> str:
    """Identity: the WordPress post id; a page without one is known by its canonical URL."""
    if record.get("post_id") is not None:
        return str(record["post_id"])
    return "u" + hashlib.sha1(record["url"].encode()).hexdigest()[:12]


@dataclass
class Head:
    seq: int
    manifest: dict | None
    index: dict[str, dict]


@dataclass
class CommitResult:
    seq: int
    manifest: dict
    created: bool
    versions_written: int = 0
    objects_written: int = 0
    bytes_written: int = 0


@dataclass
class _Plan:
    index: dict[str, dict]
    versions: dict[str, dict] = field(default_factory=dict)  # key -> version document
    changes: dict[str, list] = field(
        default_factory=lambda: {"new": [], "changed": [], "gone": [], "aliased": []}
    )
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "unchanged": 0,
            "not_modified": 0,
            "failed": 0,
            "gone_unknown": 0,
            "rejected_empty": 0,
        }
    )


def read_head(bucket: Bucket) -> Head:
    keys = [o["key"] for o in bucket.list("snapshots/") if layout.snapshot_seq(o["key"]) is not None]
    if not keys:
        return Head(0, None, {})
    manifest = bucket.get_json(keys[-1])
    rows = bucket.get_jsonl_gz(manifest["index"]["key"])
    return Head(manifest["seq"], manifest, {row["article_id"]: row for row in rows})


def _version_doc(record: dict, entry: dict | None, run_id: str, status: str) -> tuple[str, dict]:
    version = (entry["version"] if entry else 0) + 1
    previous = entry["key"] if entry else None
    fp = record.get("fingerprint") if status == "live" else "gone:" + (entry["fingerprint"] if entry else "")
    key = layout.version_key(article_id(record), version, fp, previous)
    doc = {
        "format": layout.FORMAT,
        "site": SITE,
        "article_id": article_id(record),
        "post_id": record.get("post_id"),
        "version": version,
        "previous": previous,
        "status": status,
        "fingerprint": fp,
        "url": record["url"],
        "edition": record.get("edition"),
        "provenance": {
            "run_id": run_id,
            "fetched_at": record.get("fetched_at"),
            "http_status": record.get("http_status"),
            "warc": record.get("warc_key")
            or (layout.warc_key(run_id, record["warc_file"]) if record.get("warc_file") else None),
            "warc_offset": record.get("warc_offset"),
            "warc_record_id": record.get("warc_record_id"),
        },
    }
    if status == "live":
        doc |= {k: record.get(k) for k in ("text", "markdown", "metadata", "extractor", "quality")}
    return key, doc


def _entry(
    record: dict, previous: dict | None, key: str, version: int, status: str, fingerprint: str
) -> dict:
    meta = record.get("metadata") or {}
    old = previous or {}
    aliases = set(old.get("aliases", [])) | set(record.get("aliases") or [])
    if old.get("url") and old["url"] != record["url"]:
        aliases.add(old["url"])
    same = {k: old[k] for k in ("pack", "pack_line") if k in old and old.get("key") == key}
    return same | {
        "article_id": article_id(record),
        "post_id": record.get("post_id"),
        "edition": record.get("edition"),
        "url": record["url"],
        "aliases": sorted(aliases - {record["url"]}),
        "translations": record.get("translations") or old.get("translations") or {},
        "status": status,
        "version": version,
        "key": key,
        "fingerprint": fingerprint,
        "title": meta.get("title", old.get("title")),
        "published": meta.get("published", old.get("published")),
        "modified": meta.get("modified", old.get("modified")),
        "etag": record.get("etag") or old.get("etag"),
        "last_modified": record.get("last_modified") or old.get("last_modified"),
    }


def plan(head: Head, records: Iterable[dict], run_id: str) -> _Plan:
    """Decide, per cleaned record, whether it is a new version, a tombstone, an alias or nothing."""
    result = _Plan(index=dict(head.index))
    for record in records:
        status = record.get("status")
        aid = article_id(record) if record.get("url") else None
        entry = result.index.get(aid) if aid else None
        if status in ("fetched", "redirected") and "empty_body" in (record.get("quality") or []):
            result.counts["rejected_empty"] += (
                1  # a layout change must not overwrite a good version with nothing
            )
        elif status in ("fetched", "redirected") and record.get("fingerprint"):
            if entry and entry["status"] == "live" and entry["fingerprint"] == record["fingerprint"]:
                updated = _entry(record, entry, entry["key"], entry["version"], "live", entry["fingerprint"])
                if updated["url"] != entry["url"]:
                    result.changes["aliased"].append(aid)
                result.counts["unchanged"] += 1
                result.index[aid] = updated
                continue
            key, doc = _version_doc(record, entry, run_id, "live")
            result.versions[key] = doc
            result.changes["changed" if entry else "new"].append(aid)
            result.index[aid] = _entry(record, entry, key, doc["version"], "live", record["fingerprint"])
        elif status == "gone":
            if not entry:
                result.counts["gone_unknown"] += 1
                continue
            if entry["status"] == "gone":
                continue
            key, doc = _version_doc({**record, "url": entry["url"]}, entry, run_id, "gone")
            result.versions[key] = doc
            result.changes["gone"].append(aid)
            gone = _entry(
                {**record, "url": entry["url"], "metadata": {}},
                entry,
                key,
                doc["version"],
                "gone",
                doc["fingerprint"],
            )
            result.index[aid] = gone
        elif status == "not_modified":
            result.counts["not_modified"] += 1
        else:
            result.counts["failed"] += 1
    return result


def _dumps(doc: dict) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _pack_versions(work: _Plan) -> str | None:
    """All of this commit's versions in one gzip JSONL as well: exports read a pack instead of N objects."""
    if not work.versions:
        return None
    keys = sorted(work.versions)
    digest = hashlib.sha256("\n".join(_dumps(work.versions[k]) for k in keys).encode()).hexdigest()
    pack_key = layout.pack_key(digest)
    lines = {key: n for n, key in enumerate(keys)}
    for entry in work.index.values():
        if entry["key"] in lines:
            entry["pack"], entry["pack_line"] = pack_key, lines[entry["key"]]
    return pack_key


def _find_committed(bucket: Bucket, head: Head, run_id: str) -> dict | None:
    manifest, seen = head.manifest, 0
    while manifest and seen < IDEMPOTENCY_LOOKBACK:
        if manifest.get("run_id") == run_id:
            return manifest
        if not manifest.get("parent"):
            return None
        manifest, seen = bucket.get_json(layout.snapshot_key(manifest["parent"])), seen + 1
    return None


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


def commit_run(
    bucket: Bucket,
    run_id: str,
    records: list[dict],
    run_info: dict,
    warc_dir: Path | None = None,
    high_water: dict | None = None,
    before_write: Callable[[str], None] | None = None,
    max_attempts: int = 20,
    threads: int = 16,
) -> CommitResult:
    """Commit one run's cleaned records as the next snapshot (see the module docstring for the guarantees)."""
    hook = before_write or chaos.commit_hook() or (lambda key: None)
    bucket.check()
    warc_keys = upload_warcs(bucket, run_id, warc_dir, hook)
    for _attempt in range(max_attempts):
        head = read_head(bucket)
        done = _find_committed(bucket, head, run_id)
        if done:
            log.info("run %s already committed as snapshot %s", run_id, done["seq"])
            return CommitResult(done["seq"], done, created=False)
        work = plan(head, records, run_id)

        pack_key = _pack_versions(work)

        def put(item: tuple[str, bytes]) -> int:
            key, body = item
            hook(key)
            try:
                bucket.put(key, body, "application/json", create_only=True)
                return len(body)
            except AlreadyExists:
                return 0  # same key, same content: written by an earlier attempt of this commit

        bodies = {k: gzip.compress(_dumps(doc).encode(), mtime=0) for k, doc in sorted(work.versions.items())}
        with ThreadPoolExecutor(threads) as pool:
            sizes = [n for n in pool.map(put, bodies.items()) if n]
        written = {"objects": len(sizes), "bytes": sum(sizes), "versions": len(sizes)}
        rows = [work.index[k] for k in sorted(work.index, key=lambda a: (len(a), a))]
        index_body = jsonl_gz(rows)
        index_sha = hashlib.sha256(index_body).hexdigest()
        index_key = layout.index_key(index_sha)
        extra = []
        if pack_key:
            extra.append((pack_key, jsonl_gz([work.versions[k] for k in sorted(work.versions)])))
        if not head.manifest or head.manifest["index"]["key"] != index_key:
            extra.append((index_key, index_body))
        for item in extra:
            size = put(item)
            written["objects"] += bool(size)
            written["bytes"] += size
        manifest = _manifest(head, run_id, run_info, work, rows, index_key, index_sha, warc_keys, high_water)
        snapshot = layout.snapshot_key(manifest["seq"])
        hook(snapshot)
        try:
            bucket.put_json(snapshot, manifest, create_only=True)
        except AlreadyExists:
            log.info("snapshot %s was taken by a concurrent commit; rebasing", manifest["seq"])
            continue
        written["objects"] += 1
        log.info("committed snapshot %s: %s", manifest["seq"], manifest["counts"])
        return CommitResult(
            manifest["seq"], manifest, True, written["versions"], written["objects"], written["bytes"]
        )
    raise CommitConflict(
        f"gave up after {max_attempts} attempts: other commits kept taking the next snapshot"
    )


def _manifest(
    head: Head,
    run_id: str,
    run_info: dict,
    work: _Plan,
    rows: list[dict],
    index_key: str,
    index_sha: str,
    warc_keys: list[str],
    high_water: dict | None,
) -> dict:
    marks = dict((head.manifest or {}).get("high_water", {}))
    for edition, mark in (high_water or {}).items():
        if mark and (edition not in marks or mark > marks[edition]):
            marks[edition] = mark
    live = sum(r["status"] == "live" for r in rows)

    return {
        "format": layout.FORMAT,
        "site": SITE,
        "seq": head.seq + 1,
        "parent": head.seq or None,
        "run_id": run_id,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "run": run_info,
        "index": {"key": index_key, "sha256": index_sha, "articles": len(rows)},
        "counts": {
            "articles": len(rows),
            "live": live,
            "gone": len(rows) - live,
            **{k: len(v) for k, v in work.changes.items()},
            **work.counts,
        },
        "changes": work.changes,
        "high_water": marks,
        "warc": warc_keys,
        "extractor": EXTRACTOR,
    }
