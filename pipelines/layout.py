"""Where everything lives in the bucket (see docs/storage.md). One function per kind of key, nothing else."""

from __future__ import annotations

import hashlib

FORMAT = "insight-briefs/1"


def version_key(post_id: int | str, version: int, fingerprint: str, previous: str | None) -> str:
    """Immutable article version; named by content and ancestry, so a retried commit writes the same key."""
    digest = hashlib.sha256(f"{fingerprint}|{previous or ''}".encode()).hexdigest()[:12]
    return f"articles/{post_id}/v{version:05d}-{digest}.json.gz"


def pack_key(sha256: str) -> str:
    """One commit's new versions together (gzip JSONL), so that an export reads a few objects, not thousands."""
    return f"packs/{sha256}.jsonl.gz"


def index_key(sha256: str) -> str:
    """A snapshot's article index, content-addressed: a snapshot in which nothing changed reuses its parent's."""
    return f"indexes/{sha256}.jsonl.gz"


def snapshot_key(seq: int) -> str:
    """The manifest: written last, create-only, so the snapshot exists completely or not at all."""
    return f"snapshots/{seq:08d}.json"


def snapshot_seq(key: str) -> int | None:
    name = key.rsplit("/", 1)[-1]
    stem = name.removesuffix(".json")
    return int(stem) if name.endswith(".json") and stem.isdigit() else None


def warc_key(run_id: str, name: str) -> str:
    return f"warc/{run_id}/{name}"


def run_key(run_id: str, name: str) -> str:
    """Run-scoped staging (crawl records, cleaned records, reports): what lets each task retry on its own."""
    return f"runs/{run_id}/{name}"
