"""Commit planning, pure: what one run's observations do to the archive's head (no I/O, unit-tested alone).

Causality: every observation knows the snapshot its run planned against (``base_seq``) and when it was made
(the site's ``modified``, then ``fetched_at``). When the head touched an article after that base, the newer
observation wins; an older one with different content never becomes current: it is counted and listed as
``superseded`` (its bytes stay in the run's WARC files, which the manifest lists). A re-clean re-extracts the
version that was current when it planned (``reextract_of``) and is superseded as soon as that is no longer so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import layout
from .documents import (
    FORMAT,
    Changes,
    CleanedRecord,
    Counts,
    IndexEntry,
    IndexRef,
    Provenance,
    Version,
    digest,
    encode,
)

GONE_PREFIX = "gone:"


class IdCollision(ValueError):
    """Two editions claim one post id: separate WordPress installs number posts independently, and the
    archive keys articles by post id. Committing would mix two articles' histories, so the commit refuses."""


@dataclass
class Head:
    """The snapshot a commit builds on (seq 0: the empty archive)."""

    seq: int
    index: Mapping[str, IndexEntry]  # a verified index reads its entries on first use
    sha256: str | None = None
    created_at: str | None = None
    high_water: dict[str, str] = field(default_factory=dict)
    index_base: IndexRef | None = None  # how its index is stored: the base and the deltas on top of it
    index_deltas: list[IndexRef] = field(default_factory=list)


@dataclass
class Plan:
    seq: int
    index: dict[str, IndexEntry]
    versions: dict[str, Version] = field(default_factory=dict)  # key -> document
    changes: dict[str, list[str]] = field(
        default_factory=lambda: {k: [] for k in ("new", "changed", "removed", "aliased", "superseded")}
    )
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("unchanged", "not_modified", "failed", "gone_unknown", "rejected_empty"), 0
        )
    )

    @property
    def changes_anything(self) -> bool:
        """Whether committing this plan would change what any article looks like (versions or URLs)."""
        return bool(self.versions or self.changes["aliased"])

    def typed_changes(self) -> Changes:
        return Changes(**self.changes)

    def typed_counts(self) -> Counts:
        live = sum(e.status == "live" for e in self.index.values())
        return Counts(
            articles=len(self.index),
            live=live,
            gone=len(self.index) - live,
            **{kind: len(ids) for kind, ids in self.changes.items()},
            **self.counts,
        )


def is_older(record: CleanedRecord, entry: IndexEntry) -> bool:
    """Whether `record` was observed before the entry's current content was (site `modified`, then fetch time)."""
    if record.modified and entry.modified and record.modified != entry.modified:
        return record.modified < entry.modified
    return (record.fetched_at or "") < (entry.observed_at or "")


def is_stale(record: CleanedRecord, entry: IndexEntry) -> bool:
    """An observation that must not replace the entry's current content."""
    if record.reextract_of is not None:
        return record.reextract_of != entry.key
    if record.base_seq is not None and entry.observed_in <= record.base_seq:
        return False  # nothing happened to this article since the run planned
    return is_older(record, entry)


def _latest(*values: str | None) -> str | None:
    present = [v for v in values if v]
    return max(present) if present else None


def _version(record: CleanedRecord, entry: IndexEntry | None, run_id: str, site: str, status: str) -> Version:
    live = status == "live"
    return Version(
        format=FORMAT,
        site=site,
        article_id=record.article_id,
        post_id=record.post_id,
        version=(entry.version if entry else 0) + 1,
        previous=entry.key if entry else None,
        previous_sha256=entry.sha256 if entry else None,
        status=status,
        fingerprint=record.fingerprint if live else GONE_PREFIX + (entry.fingerprint if entry else ""),
        url=record.url if live else (entry.url if entry else record.url),
        edition=record.edition,
        provenance=Provenance(
            run_id=run_id,
            base_seq=record.base_seq,
            fetched_at=record.fetched_at,
            http_status=record.http_status,
            warc=record.warc_key or (layout.warc_key(run_id, record.warc_file) if record.warc_file else None),
            warc_offset=record.warc_offset,
            warc_record_id=record.warc_record_id,
        ),
        text=record.text if live else None,
        markdown=record.markdown if live else None,
        metadata=record.metadata if live else None,
        extractor=record.extractor if live else None,
        quality=record.quality if live else [],
    )


def _entry(record: CleanedRecord, old: IndexEntry | None, seq: int, **changed) -> IndexEntry:
    """The index entry after an observation: URL history, validators and observation time carried forward."""
    url = changed.pop("url", record.url)
    aliases = set(old.aliases if old else ()) | set(record.aliases)
    if old and old.url != url:
        aliases.add(old.url)
    meta = record.metadata
    fields = {
        "article_id": record.article_id,
        "post_id": record.post_id,
        "edition": record.edition,
        "url": url,
        "aliases": sorted(aliases - {url}),
        "translations": record.translations or (old.translations if old else {}),
        "title": (meta.title if meta else None) or (old.title if old else None),
        "published": (meta.published if meta else None) or (old.published if old else None),
        "modified": _latest(meta.modified if meta else None, old.modified if old else None),
        "observed_at": _latest(record.fetched_at, old.observed_at if old else None),
        "observed_in": seq,
        "etag": record.etag or (old.etag if old else None),
        "last_modified": record.last_modified or (old.last_modified if old else None),
    }
    if old and "key" not in changed:
        fields |= {k: getattr(old, k) for k in ("status", "version", "key", "sha256", "fingerprint")}
        fields |= {"pack": old.pack, "pack_line": old.pack_line}
    return IndexEntry(**(fields | changed))


def plan(head: Head, records: Iterable[CleanedRecord], run_id: str, site: str) -> Plan:
    """Decide, per observation, whether it is a new version, a tombstone, an alias, superseded or nothing."""
    result = Plan(seq=head.seq + 1, index=dict(head.index))
    for record in records:
        aid = record.article_id
        entry = result.index.get(aid)
        if entry is not None and entry.edition and record.edition and entry.edition != record.edition:
            raise IdCollision(
                f"post id {aid} is a {entry.edition} article ({entry.url}) but this run saw it as {record.edition} "
                f"({record.url}): the site's editions share no id space, which this archive cannot keep apart"
            )
        if record.status in ("fetched", "redirected"):
            if "empty_body" in record.quality:
                result.counts["rejected_empty"] += 1  # a layout change must not overwrite a good version
                continue
            if not record.fingerprint:
                result.counts["failed"] += 1
                continue
            same = entry is not None and entry.status == "live" and entry.fingerprint == record.fingerprint
            if entry is not None and is_stale(record, entry):
                if same:
                    result.counts["unchanged"] += 1
                else:
                    result.changes["superseded"].append(aid)
                continue
            if same:
                updated = _entry(record, entry, result.seq)
                if updated.url != entry.url:
                    result.changes["aliased"].append(aid)
                result.counts["unchanged"] += 1
                result.index[aid] = updated
                continue
            _add(result, record, entry, run_id, site, "live")
            result.changes["changed" if entry else "new"].append(aid)
        elif record.status == "gone":
            if entry is None:
                result.counts["gone_unknown"] += 1
            elif is_stale(record, entry):
                if entry.status == "live":
                    result.changes["superseded"].append(aid)
            elif entry.status == "live":
                _add(result, record, entry, run_id, site, "gone")
                result.changes["removed"].append(aid)
        elif record.status == "not_modified":
            result.counts["not_modified"] += 1
        else:
            result.counts["failed"] += 1
    return result


def _add(result: Plan, record: CleanedRecord, entry: IndexEntry | None, run_id: str, site: str, status: str):
    version = _version(record, entry, run_id, site, status)
    sha = digest(encode(version))
    key = layout.version_key(record.article_id, version.version, sha)
    result.versions[key] = version
    changed = {"status": status, "version": version.version, "key": key, "sha256": sha}
    changed |= {"fingerprint": version.fingerprint, "pack": None, "pack_line": None}
    if status == "gone":
        changed |= {"url": entry.url, "title": entry.title, "published": entry.published}
    result.index[record.article_id] = _entry(record, entry, result.seq, **changed)
