"""Export a snapshot's articles to JSONL (gzip when the name ends in ``.gz``) or Parquet: one row per article
current at that snapshot. Parquet carries dates as UTC timestamps, so pandas, polars and DuckDB read them as such.

Every row comes from a verified read; the file is written beside its destination and renamed into place only
when complete, so a failed export never leaves a valid-looking partial file.
"""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from spiders.discovery import parse_time

from .archive import Archive
from .documents import IndexEntry, Version
from .verified import added_versions, versions_of

UTC_TIME = pa.timestamp("ms", tz="UTC")  # Parquet has no seconds unit: ms is what reads back

SCHEMA = pa.schema(
    [
        ("article_id", pa.string()),
        ("post_id", pa.int64()),
        ("edition", pa.string()),
        ("url", pa.string()),
        ("aliases", pa.list_(pa.string())),
        ("status", pa.string()),
        ("version", pa.int32()),
        ("title", pa.string()),
        ("authors", pa.list_(pa.string())),
        ("published", UTC_TIME),
        ("modified", UTC_TIME),
        ("section", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("countries", pa.list_(pa.string())),
        ("language", pa.string()),
        ("text", pa.string()),
        ("markdown", pa.string()),
        ("fingerprint", pa.string()),
        ("version_key", pa.string()),
        ("committed_in", pa.int64()),  # --changes-since: the snapshot that added the version (else null)
        ("committed_at", UTC_TIME),
    ]
)
TIMES = ("published", "modified", "committed_at")
BATCH = 500


def rows(
    archive: Archive,
    seq: int,
    include_gone: bool = False,
    threads: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Flat rows, one per article current at the snapshot."""
    entries = [e for e in archive.index(seq).values() if include_gone or e.status == "live"]
    done = 0
    with ThreadPoolExecutor(threads) as pool:
        for done, (entry, doc) in enumerate(versions_of(archive.bucket, entries, pool), 1):
            yield flat_row(doc, entry, None, None)  # reads only this snapshot's manifest: no commit times
            if progress and done % 100 == 0:
                progress(100)
    if progress:
        progress(done % 100)


def changes(archive: Archive, after: int, upto: int) -> Iterator[dict]:
    """Every version added by snapshots ``after < seq <= upto``, tombstones included, oldest first: each read from
    its commit's pack, which the (verified) manifest names by digest."""
    for seq in (s for s in archive.seqs() if after < s <= upto):
        manifest = archive.manifest(seq)
        for _, version in added_versions(archive.bucket, manifest):
            yield flat_row(version, None, seq, manifest.created_at)


def flat_row(doc: Version, entry: IndexEntry | None, seq: int | None, committed_at: str | None) -> dict:
    meta = doc.metadata
    return {
        "article_id": doc.article_id,
        "post_id": doc.post_id,
        "edition": doc.edition,
        "url": entry.url if entry else doc.url,
        "aliases": entry.aliases if entry else [],
        "status": doc.status,
        "version": doc.version,
        "title": (meta.title if meta else None) or (entry.title if entry else None),
        "authors": meta.authors if meta else [],
        "published": (meta.published if meta else None) or (entry.published if entry else None),
        "modified": meta.modified if meta else None,
        "section": meta.section if meta else None,
        "tags": meta.tags if meta else [],
        "countries": meta.countries if meta else [],
        "language": meta.language if meta else None,
        "text": doc.text,
        "markdown": doc.markdown,
        "fingerprint": doc.fingerprint,
        "version_key": entry.key if entry else None,
        "committed_in": seq,
        "committed_at": committed_at,
    }


def count(archive: Archive, seq: int, include_gone: bool = False) -> int:
    return sum(include_gone or e.status == "live" for e in archive.index(seq).values())


def export_snapshot(
    archive: Archive,
    seq: int,
    path: Path,
    fmt: str = "parquet",
    include_gone: bool = False,
    progress: Callable[[int], None] | None = None,
    changes_after: int | None = None,
) -> int:
    """Write the snapshot to `path` (``parquet``, or ``jsonl``: gzip-compressed only when the name ends in
    ``.gz``, which is what pandas and DuckDB expect); returns the number of rows. With `changes_after`, the
    versions the snapshots after that one (up to `seq`) added instead: edits and removals, one row each."""
    if fmt not in ("parquet", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: parquet or jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        if changes_after is None:
            stream = rows(archive, seq, include_gone, progress=progress)
        else:
            stream = changes(archive, changes_after, seq)
        written = _write(Path(name), stream, fmt, gzipped=path.name.endswith(".gz"))
        os.replace(name, path)
    finally:
        Path(name).unlink(missing_ok=True)
    return written


def _write(path: Path, stream: Iterator[dict], fmt: str, gzipped: bool) -> int:
    written = 0
    if fmt == "jsonl":
        opener = gzip.open if gzipped else open
        with opener(path, "wt", encoding="utf-8") as out:
            for row in stream:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
        return written
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        batch: list[dict] = []
        for row in stream:
            batch.append(row | {k: parse_time(row[k]) for k in TIMES})
            if len(batch) >= BATCH:
                writer.write_table(pa.Table.from_pylist(batch, SCHEMA))
                written, batch = written + len(batch), []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, SCHEMA))
            written += len(batch)
    return written
