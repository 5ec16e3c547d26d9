"""Reading the archive back: snapshots, articles at a point in time, histories, diffs.

from pipelines.archive import Archive
archive = Archive.from_env()
archive.article(351087)                      # latest version
archive.article(351087, at="2026-11-20")     # as of a date (UTC)
archive.history(351087)                      # every version, oldest first
"""

from __future__ import annotations

import difflib
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from spiders.urls import canonical_url

from . import layout
from .storage import Bucket, StorageConfig


class NotFound(LookupError):
    """An unknown snapshot, article or version; the message says which."""


@dataclass(frozen=True)
class SnapshotRef:
    seq: int
    committed_at: datetime


def parse_when(value: str | datetime) -> datetime:
    """An ISO date or datetime (UTC unless it says otherwise); a date means the end of that day."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise NotFound(f"not a date: {value!r} (use YYYY-MM-DD or an ISO-8601 datetime)") from None
    if len(text) == 10:
        parsed = parsed.replace(hour=23, minute=59, second=59)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Archive:
    def __init__(self, bucket: Bucket):
        self.bucket = bucket
        self._index = lru_cache(maxsize=8)(self._load_index)

    @classmethod
    def from_env(cls) -> Archive:
        return cls(Bucket(StorageConfig.from_env()))

    # ---- snapshots ----------------------------------------------------------------------------------------
    def snapshot_refs(self) -> list[SnapshotRef]:
        refs = []
        for obj in self.bucket.list("snapshots/"):
            seq = layout.snapshot_seq(obj["key"])
            if seq is not None:
                refs.append(SnapshotRef(seq, obj["last_modified"]))
        return refs

    def manifest(self, seq: int | None = None) -> dict:
        if seq is None:
            refs = self.snapshot_refs()
            if not refs:
                raise NotFound(f"the archive at {self.bucket.config.describe()} has no snapshot yet")
            seq = refs[-1].seq
        if not self.bucket.exists(layout.snapshot_key(seq)):
            raise NotFound(f"no snapshot {seq}")
        return self.bucket.get_json(layout.snapshot_key(seq))

    def resolve(self, at: int | str | datetime | None = None) -> int:
        """A snapshot number from: None (latest), a number, or a date/time (the last snapshot committed by then)."""
        refs = self.snapshot_refs()
        if not refs:
            raise NotFound(f"the archive at {self.bucket.config.describe()} has no snapshot yet")
        if at is None:
            return refs[-1].seq
        if isinstance(at, int) or (isinstance(at, str) and at.isdigit()):
            seq = int(at)
            if seq not in {r.seq for r in refs}:
                raise NotFound(f"no snapshot {seq} (there are {refs[0].seq} to {refs[-1].seq})")
            return seq
        when = parse_when(at)
        before = [r for r in refs if r.committed_at <= when]
        if not before:
            raise NotFound(
                f"no snapshot existed on {when.isoformat()} (the first is from {refs[0].committed_at})"
            )
        return before[-1].seq

    def _load_index(self, seq: int) -> dict[str, dict]:
        manifest = self.manifest(seq)
        return {row["article_id"]: row for row in self.bucket.get_jsonl_gz(manifest["index"]["key"])}

    def index(self, at: int | str | datetime | None = None) -> dict[str, dict]:
        return self._index(self.resolve(at))

    # ---- articles -----------------------------------------------------------------------------------------
    def entry(self, ident: int | str, at: int | str | datetime | None = None) -> dict:
        """An article's index entry at a snapshot, by post id or by any URL it has had."""
        index = self.index(at)
        text = str(ident)
        if text in index:
            return index[text]
        if text.startswith("http"):
            wanted = canonical_url(text)
            for row in index.values():
                urls = [row["url"], *row.get("aliases", [])]
                if wanted in {canonical_url(u) for u in urls}:
                    return row
        raise NotFound(f"no article {ident} in snapshot {self.resolve(at)}")

    def version(self, key: str) -> dict:
        return json.loads(gzip.decompress(self.bucket.get(key)))

    def article(self, ident: int | str, at: int | str | datetime | None = None) -> dict:
        """The article as it was at a snapshot (latest by default): its version document plus index fields."""
        row = self.entry(ident, at)
        return {
            **self.version(row["key"]),
            "aliases": row.get("aliases", []),
            "translations": row.get("translations", {}),
        }

    def history(self, ident: int | str) -> list[dict]:
        """Every version of an article, oldest first, tombstones included."""
        row = self.entry(ident)
        versions, key = [], row["key"]
        while key:
            doc = self.version(key)
            versions.append(doc)
            key = doc.get("previous")
        return versions[::-1]

    def diff(self, ident: int | str, old: int | None = None, new: int | None = None) -> str:
        """Unified diff of two versions' text (default: the last two)."""
        versions = {v["version"]: v for v in self.history(ident)}
        numbers = sorted(versions)
        new = new or numbers[-1]
        old = old or (numbers[-2] if len(numbers) > 1 else numbers[-1])
        for n in (old, new):
            if n not in versions:
                raise NotFound(f"article {ident} has no version {n} (versions: {numbers})")
        a, b = versions[old], versions[new]
        return "".join(
            difflib.unified_diff(
                _lines(a),
                _lines(b),
                fromfile=f"{ident}@v{old} ({a['status']})",
                tofile=f"{ident}@v{new} ({b['status']})",
            )
        )


def _lines(version: dict) -> list[str]:
    title = (version.get("metadata") or {}).get("title") or ""
    text = version.get("text") or ""
    return (
        [line + "\n" for line in [f"# {title}", "", *text.split("\n")]] if version["status"] == "live" else []
    )
