"""Export a snapshot's articles to gzip JSONL or Parquet: one row per article current at that snapshot."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .archive import Archive

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
        ("published", pa.string()),
        ("modified", pa.string()),
        ("section", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("countries", pa.list_(pa.string())),
        ("language", pa.string()),
        ("text", pa.string()),
        ("markdown", pa.string()),
        ("fingerprint", pa.string()),
        ("version_key", pa.string()),
    ]
)
BATCH = 500


def documents(archive: Archive, entries: list[dict], threads: int) -> Iterator[tuple[dict, dict]]:
    """(entry, version document) pairs: packed versions a pack at a time, the rest object by object."""
    by_pack: dict[str, list[dict]] = {}
    loose = []
    for entry in entries:
        (by_pack.setdefault(entry["pack"], []) if entry.get("pack") else loose).append(entry)
    for pack, members in sorted(by_pack.items()):
        lines = gzip.decompress(archive.bucket.get(pack)).split(b"\n")
        for entry in members:
            yield entry, json.loads(lines[entry["pack_line"]])
    with ThreadPoolExecutor(threads) as pool:
        for start in range(0, len(loose), BATCH):
            batch = loose[start : start + BATCH]
            yield from zip(batch, pool.map(lambda e: archive.version(e["key"]), batch), strict=True)


def rows(
    archive: Archive,
    seq: int,
    include_gone: bool = False,
    threads: int = 32,
    progress: Callable[[int], None] | None = None,
) -> Iterator[dict]:
    """Flat rows, one per article current at the snapshot."""
    entries = [e for e in archive.index(seq).values() if include_gone or e["status"] == "live"]
    done = 0
    for done, (entry, doc) in enumerate(documents(archive, entries, threads), 1):
        meta = doc.get("metadata") or {}
        yield {
            "article_id": entry["article_id"],
            "post_id": entry.get("post_id"),
            "edition": entry.get("edition"),
            "url": entry["url"],
            "aliases": entry.get("aliases", []),
            "status": entry["status"],
            "version": entry["version"],
            "title": meta.get("title") or entry.get("title"),
            "authors": meta.get("authors", []),
            "published": meta.get("published") or entry.get("published"),
            "modified": meta.get("modified"),
            "section": meta.get("section"),
            "tags": meta.get("tags", []),
            "countries": meta.get("countries", []),
            "language": meta.get("language"),
            "text": doc.get("text"),
            "markdown": doc.get("markdown"),
            "fingerprint": entry["fingerprint"],
            "version_key": entry["key"],
        }
        if progress and done % 100 == 0:
            progress(100)
    if progress:
        progress(done % 100)


def count(archive: Archive, seq: int, include_gone: bool = False) -> int:
    return sum(include_gone or e["status"] == "live" for e in archive.index(seq).values())


def export_snapshot(
    archive: Archive,
    seq: int,
    path: Path,
    fmt: str = "parquet",
    include_gone: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the snapshot to `path` (``parquet`` or ``jsonl``, gzip-compressed); returns the number of rows."""
    if fmt not in ("parquet", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r}: parquet or jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    stream = rows(archive, seq, include_gone, progress=progress)
    if fmt == "jsonl":
        with gzip.open(path, "wt", encoding="utf-8") as out:
            for row in stream:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
        return written
    with pq.ParquetWriter(path, SCHEMA, compression="zstd") as writer:
        batch: list[dict] = []
        for row in stream:
            batch.append(row)
            if len(batch) >= BATCH:
                writer.write_table(pa.Table.from_pylist(batch, SCHEMA))
                written, batch = written + len(batch), []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, SCHEMA))
            written += len(batch)
    return written
