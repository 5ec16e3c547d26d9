"""Reading the archive back: snapshots, articles at a point in time, histories, diffs. Every read is verified.

from pipelines.archive import Archive
archive = Archive.from_env()
archive.article(351087)                      # latest version
archive.article(351087, at="2026-11-20")     # as of a date (UTC)
archive.history(351087)                      # every version, oldest first
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from spiders.urls import canonical_url

from . import layout
from .documents import DamagedObject, IndexEntry, Manifest, Version
from .storage import Bucket
from .verified import (
    Snapshot,
    check_link,
    read_index,
    read_manifest,
    read_previous,
    read_version,
    snapshot_seqs,
)

if TYPE_CHECKING:
    from .settings import Settings

_SEQ = re.compile(r"[0-9]+", re.ASCII)


class NotFound(LookupError):
    """An unknown snapshot, article or version; the message says which."""


def parse_when(value: str | datetime) -> datetime:
    """An ISO date or datetime (UTC unless it says otherwise); a date means the end of that day."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip()
    if not text.isascii():
        raise NotFound(f"not a snapshot number or date: {value!r} (use 12, YYYY-MM-DD or an ISO-8601 time)")
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
        self._snapshots: dict[int, Snapshot] = {}  # only what exists: a later snapshot may appear any time
        self._index = lru_cache(maxsize=8)(self._load_index)

    @classmethod
    def from_settings(cls, settings: Settings) -> Archive:
        return cls(Bucket(settings.storage))

    @classmethod
    def from_env(cls, env_file: Path | None = None) -> Archive:
        """The archive the environment (or `env_file`) configures; see ``pipelines.settings``."""
        from .settings import Settings

        return cls.from_settings(Settings.from_env(env_file=env_file))

    # ---- snapshots ----------------------------------------------------------------------------------------
    def seqs(self) -> list[int]:
        seqs = snapshot_seqs(self.bucket)
        if not seqs:
            raise NotFound(f"the archive at {self.bucket.config.describe()} has no snapshot yet")
        return seqs

    def manifest(self, seq: int | None = None) -> Manifest:
        """A snapshot's manifest, verified against its key (latest by default)."""
        return self.snapshot(self.seqs()[-1] if seq is None else seq).manifest

    def _load(self, seq: int) -> Snapshot | None:
        if seq not in self._snapshots:
            try:
                self._snapshots[seq] = read_manifest(self.bucket, seq)
            except DamagedObject:
                if not self.bucket.exists(layout.snapshot_key(seq)):
                    return None
                raise
        return self._snapshots[seq]

    def snapshot(self, seq: int) -> Snapshot:
        """A manifest and the digest of its bytes, checked against its key and against the digest its successor
        recorded (when there is one): a swapped older manifest is caught without walking the chain (``briefs
        verify --full`` walks all of it). Read once per Archive."""
        snapshot = self._load(seq)
        if snapshot is None:
            raise NotFound(f"no snapshot {seq}")
        try:
            child = self._load(seq + 1)
        except DamagedObject:  # the successor's own damage is reported where it is read, and by verify
            child = None
        if child is not None:
            check_link(child.manifest, snapshot)
        return snapshot

    def resolve(self, at: int | str | datetime | None = None) -> int:
        """A snapshot number from: None (latest), a number, or a date/time (the last snapshot committed by then,
        by the manifests' own ``created_at``, which grows along the chain)."""
        seqs = self.seqs()
        if at is None:
            return seqs[-1]
        if isinstance(at, int) or (isinstance(at, str) and _SEQ.fullmatch(at.strip())):
            seq = int(at)
            if seq not in set(seqs):
                raise NotFound(f"no snapshot {seq} (there are {seqs[0]} to {seqs[-1]})")
            return seq
        when = parse_when(at)
        low, high = 0, len(seqs)  # bisect: the first snapshot committed after `when`
        while low < high:
            middle = (low + high) // 2
            if parse_when(self.manifest(seqs[middle]).created_at) <= when:
                low = middle + 1
            else:
                high = middle
        if low == 0:
            first = self.manifest(seqs[0]).created_at
            raise NotFound(f"no snapshot existed on {when.isoformat()} (the first is from {first})")
        return seqs[low - 1]

    def snapshot_before(self, since: str) -> int:
        """The last snapshot committed by `since` (a number or a date; 0 when the date is before the first):
        what changed after it is new."""
        try:
            return self.resolve(since)
        except NotFound:
            if since.strip().isdigit():
                raise  # a snapshot that does not exist is a mistake, not "everything"
            return 0  # a date before the first snapshot: every version is a change since

    def _load_index(self, seq: int) -> Mapping[str, IndexEntry]:
        return read_index(self.bucket, self.manifest(seq))

    def index(self, at: int | str | datetime | None = None) -> Mapping[str, IndexEntry]:
        return self._index(self.resolve(at))

    # ---- articles -----------------------------------------------------------------------------------------
    def entry(self, ident: int | str, at: int | str | datetime | None = None) -> IndexEntry:
        """An article's index entry at a snapshot, by post id or by any URL it has had."""
        index = self.index(at)
        text = str(ident)
        if text in index:
            return index[text]
        if text.startswith("http"):
            try:
                wanted = canonical_url(text)
            except ValueError:
                raise NotFound(f"{ident!r} is not a URL an article can have") from None
            for row in index.values():
                if wanted in {canonical_url(u) for u in (row.url, *row.aliases)}:
                    return row
        raise NotFound(f"no article {ident} in snapshot {self.resolve(at)}")

    def version(self, entry: IndexEntry) -> Version:
        return read_version(self.bucket, entry)

    def article(self, ident: int | str, at: int | str | datetime | None = None) -> Version:
        """The article as it was at a snapshot (latest by default), verified; its URLs are in `entry`."""
        return self.version(self.entry(ident, at))

    def history(self, ident: int | str) -> list[Version]:
        """Every version of an article, oldest first, tombstones included; each step verified."""
        version: Version | None = self.version(self.entry(ident))
        versions = []
        while version is not None:
            versions.append(version)
            version = read_previous(self.bucket, version)
        return versions[::-1]

    def diff(self, ident: int | str, old: int | None = None, new: int | None = None) -> str:
        """Unified diff of two versions' text (default: the last two)."""
        versions = {v.version: v for v in self.history(ident)}
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
                fromfile=f"{ident}@v{old} ({a.status})",
                tofile=f"{ident}@v{new} ({b.status})",
            )
        )


def _lines(version: Version) -> list[str]:
    if version.status != "live":
        return []
    title = version.metadata.title if version.metadata else ""
    return [line + "\n" for line in [f"# {title or ''}", "", *(version.text or "").split("\n")]]
