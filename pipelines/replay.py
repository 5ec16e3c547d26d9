"""Replayable captures: each run's WARC files packaged as a WACZ (CDXJ index, pages, digests), replayed by pywb.

``package_run(bucket, seq)`` builds the WACZ of the run that committed snapshot ``seq`` and stores it beside the
run's WARC files (``layout.wacz_key``). It is a derived product: rebuilt from the manifest, its packs and the WARC
files, byte-for-byte deterministic (a retried task writes the same object), create-only, and never part of a
snapshot. ``locate`` finds the WACZ of the run that fetched a version (built on the fly for a run without one)
and the exact record, for ``briefs replay`` to serve with pywb (``infra.replay``, its own environment).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from . import layout
from .archive import Archive, NotFound
from .documents import DamagedObject, Manifest
from .storage import AlreadyExists, Bucket
from .verified import added_versions, read_manifest

log = logging.getLogger(__name__)
WACZ_VERSION = "1.1.1"
_CHUNK = 1 << 20


class ReplayError(NotFound):
    """A version has no capture to replay, or no snapshot to package it from; the message says which."""


# ---- packaging ------------------------------------------------------------------------------------------------
def run_warcs(manifest: Manifest) -> list[str]:
    """The WARC files the run itself wrote (a re-clean cites other runs' files: those are packaged with them)."""
    own = layout.warc_key(manifest.run_id, "")
    return sorted(k for k in manifest.warc if k.startswith(own) and "/" not in k[len(own) :])


def package_run(bucket: Bucket, seq: int, work_dir: Path | None = None) -> str | None:
    """Build and store the WACZ of the run that committed snapshot `seq`; its key, or None without WARC files.

    Idempotent: the build is deterministic and the upload create-only; an existing object that differs is
    checked (a damaged one is an error naming its key) and kept, never replaced."""
    manifest = read_manifest(bucket, seq).manifest
    if not run_warcs(manifest):
        return None
    key = layout.wacz_key(manifest.run_id)
    with tempfile.TemporaryDirectory(dir=work_dir, prefix="wacz-") as tmp:
        built = build_wacz(bucket, manifest, Path(tmp) / "capture.wacz")
        ours = check_wacz(built, f"the WACZ built for snapshot {seq}")
        try:
            with built.open("rb") as body:
                bucket.put(key, body, "application/wacz", create_only=True)  # type: ignore[arg-type]
            log.info("packaged snapshot %s as %s", seq, key)
            return key
        except AlreadyExists:
            pass
        existing = Path(tmp) / "existing.wacz"
        bucket.download_file(key, existing)
        if _sha256_file(existing) == _sha256_file(built):
            return key
        theirs = check_wacz(existing, key)
        missing = sorted(set(_archives(ours)) - set(_archives(theirs)))
        if missing:
            log.warning(
                "%s lacks %s of snapshot %s (a reprocessed run): kept; replay builds it", key, missing, seq
            )
        else:
            log.info("%s already holds the captures of snapshot %s (kept)", key, seq)
        return key


def build_wacz(bucket: Bucket, manifest: Manifest, path: Path) -> Path:
    """The WACZ of a snapshot's own WARC files, at `path`; WARC digests and page records checked on the way."""
    warc_dir = path.parent / "warc"
    warc_dir.mkdir(parents=True, exist_ok=True)
    records: dict[str, dict[str, tuple[int, str, str]]] = {}
    for key in run_warcs(manifest):
        local = warc_dir / _member_name(key)
        bucket.download_file(key, local)
        records[key] = scan_warc(local, key)
    pages = _pages(bucket, manifest, records)
    stamp = _when(manifest.created_at).timetuple()[:6]
    with zipfile.ZipFile(path, "w") as wacz:
        index = _write_index(wacz, sorted(warc_dir.iterdir()), stamp)
        _write(wacz, "indexes/index.idx", index, stamp)
        for local in sorted(warc_dir.iterdir()):
            _write_file(wacz, f"archive/{local.name}", local, stamp)
        header = {"format": "json-pages-1.0", "id": "pages", "title": f"{manifest.site}: {manifest.run_id}"}
        lines = [json.dumps(row, ensure_ascii=False, sort_keys=True) for row in [header, *pages]]
        _write(wacz, "pages/pages.jsonl", "".join(line + "\n" for line in lines).encode(), stamp)
        package = _datapackage(wacz, manifest)
        _write(wacz, "datapackage.json", package, stamp)
        digest = {"path": "datapackage.json", "hash": "sha256:" + hashlib.sha256(package).hexdigest()}
        _write(wacz, "datapackage-digest.json", json.dumps(digest, indent=2).encode(), stamp)
    return path


def scan_warc(path: Path, key: str) -> dict[str, tuple[int, str, str]]:
    """Every response record's (offset, target URI, WARC-Date) by record id; a record whose digest does not match
    its bytes, or a file that does not parse to its end, is damage naming `key`."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    found: dict[str, tuple[int, str, str]] = {}
    try:
        with path.open("rb") as handle:
            records = ArchiveIterator(handle, check_digests=True)
            for record in records:
                while record.raw_stream.read(_CHUNK):
                    pass
                headers = record.rec_headers
                if record.digest_checker.passed is False:
                    problems = "; ".join(record.digest_checker.problems)
                    raise DamagedObject(f"{key}: record {headers.get_header('WARC-Record-ID')}: {problems}")
                if record.rec_type == "response":
                    found[headers.get_header("WARC-Record-ID")] = (
                        records.get_record_offset(),
                        headers.get_header("WARC-Target-URI"),
                        headers.get_header("WARC-Date"),
                    )
    except (ArchiveLoadFailed, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, DamagedObject):
            raise
        raise DamagedObject(f"{key}: not a readable WARC file ({type(exc).__name__}: {exc})") from None
    return found


def _pages(bucket: Bucket, manifest: Manifest, records: dict[str, dict]) -> list[dict]:
    """The live versions the snapshot added (from its packs, verified) whose capture is in these WARC files."""
    pages = []
    for _, version in added_versions(bucket, manifest):
        source = version.provenance
        if version.status != "live" or source.warc not in records:
            continue
        found = records[source.warc].get(source.warc_record_id)
        if found is None or found[0] != source.warc_offset:
            raise DamagedObject(
                f"{source.warc}: no response {source.warc_record_id} at offset {source.warc_offset}, which "
                f"article {version.article_id} v{version.version} cites"
            )
        title = (version.metadata.title if version.metadata else None) or version.url
        ts = source.fetched_at or found[2]
        pages.append(
            {"id": f"{version.article_id}-v{version.version}", "url": found[1], "title": title, "ts": ts}
        )
    return sorted(pages, key=lambda page: (page["ts"], page["id"]))


def _write_index(wacz: zipfile.ZipFile, warcs: list[Path], stamp: tuple) -> bytes:
    """The CDXJ index (cdxj-indexer, ZipNum: gzip blocks + an idx), as ``wacz create`` lays it out."""
    from cdxj_indexer.main import CDXJIndexer

    idx = io.StringIO()
    with wacz.open(_info("indexes/index.cdx.gz", stamp, zipfile.ZIP_STORED), "w") as blocks:
        CDXJIndexer(
            idx,
            [str(p) for p in warcs],
            sort=True,
            post_append=True,
            compress=blocks,
            lines=1024,
            digest_records=True,
            fields="referrer",
            records="response,revisit,resource",  # explicit: importing `wacz` changes the default list
            data_out_name="index.cdx.gz",
        ).process_all()
    return idx.getvalue().encode()


def _datapackage(wacz: zipfile.ZipFile, manifest: Manifest) -> bytes:
    from importlib.metadata import version

    resources = []
    for info in wacz.infolist():
        with wacz.open(info) as member:
            hasher, size = _hash(member)
        name = re.sub(r"[^-a-z0-9._]", "-", Path(info.filename).name.lower())
        resources.append({"name": name, "path": info.filename, "hash": f"sha256:{hasher}", "bytes": size})
    package = {
        "profile": "data-package",
        "resources": resources,
        "title": f"{manifest.site} captures of run {manifest.run_id}",
        "description": f"WARC files of snapshot {manifest.seq}; pages are the versions it added",
        "created": _when(manifest.created_at).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wacz_version": WACZ_VERSION,
        "software": f"insight-briefs (cdxj-indexer {version('cdxj-indexer')})",
    }
    return json.dumps(package, indent=2).encode()


def check_wacz(path: Path, where: str) -> dict:
    """A WACZ's datapackage digests against its members (and the datapackage against its digest file): its
    datapackage, or DamagedObject naming `where`."""
    try:
        with zipfile.ZipFile(path) as wacz:
            package_bytes = wacz.read("datapackage.json")
            recorded = json.loads(wacz.read("datapackage-digest.json"))
            if recorded.get("hash") != "sha256:" + hashlib.sha256(package_bytes).hexdigest():
                raise DamagedObject(f"{where}: datapackage.json does not match datapackage-digest.json")
            package = json.loads(package_bytes)
            listed = {r["path"]: r for r in package["resources"]}
            members = set(wacz.namelist()) - {"datapackage.json", "datapackage-digest.json"}
            if members != set(listed):
                raise DamagedObject(
                    f"{where}: members {sorted(members ^ set(listed))} not as the datapackage lists"
                )
            for name, resource in sorted(listed.items()):
                with wacz.open(name) as member:
                    found, size = _hash(member)
                if f"sha256:{found}" != resource["hash"] or size != resource["bytes"]:
                    raise DamagedObject(f"{where}: {name} does not match its datapackage digest")
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError, TypeError) as exc:
        raise DamagedObject(f"{where}: not a valid WACZ ({type(exc).__name__}: {exc})") from None
    return package


def _archives(package: dict) -> dict[str, str]:
    return {r["path"]: r["hash"] for r in package["resources"] if r["path"].startswith("archive/")}


def _member_name(warc_key: str) -> str:
    return warc_key.rsplit("/", 1)[-1]


def _info(name: str, stamp: tuple, compress: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, stamp)
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return info


def _write(wacz: zipfile.ZipFile, name: str, data: bytes, stamp: tuple) -> None:
    wacz.writestr(_info(name, stamp, zipfile.ZIP_DEFLATED), data, compresslevel=6)


def _write_file(wacz: zipfile.ZipFile, name: str, path: Path, stamp: tuple) -> None:
    """WARC files are stored, not deflated: replay reads records at their offsets."""
    info = _info(name, stamp, zipfile.ZIP_STORED)
    info.file_size = path.stat().st_size
    with path.open("rb") as source, wacz.open(info, "w") as target:
        shutil.copyfileobj(source, target, _CHUNK)


def _when(created_at: str) -> datetime:
    """Every member and the datapackage dated by the snapshot's commit: the same input gives the same bytes."""
    return datetime.fromisoformat(created_at.replace("Z", "+00:00"))


def _hash(stream) -> tuple[str, int]:
    hasher, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _sha256_file(path: Path) -> str:
    with path.open("rb") as handle:
        return _hash(handle)[0]


# ---- replay -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Capture:
    """Where one version's response lies: the collection serving it and the (timestamp, URL) to ask pywb for."""

    article_id: str
    version: int
    run_id: str
    wacz: Path
    collection: str
    timestamp: str  # 14 digits, from the record's WARC-Date
    url: str  # the record's WARC-Target-URI

    def replay_url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}/{self.collection}/{self.timestamp}/{self.url}"


def locate(archive: Archive, ident: int | str, at: int | str | None, cache: Path) -> Capture:
    """The capture of an article's version at snapshot `at` (latest by default), its WACZ fetched (or built)
    into `cache` and checked, and its record read there: the record id must be the one the version names."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.timeutils import iso_date_to_timestamp

    version = archive.article(ident, at)
    source = version.provenance
    if version.status != "live" or not source.warc or source.warc_offset is None:
        raise ReplayError(f"article {ident} v{version.version} has no capture to replay ({version.status})")
    run_id = source.warc[len("warc/") :].rsplit("/", 1)[0]
    wacz = _wacz_for(archive.bucket, run_id, source.warc, cache)
    member = f"archive/{_member_name(source.warc)}"
    with zipfile.ZipFile(wacz) as package, package.open(member) as stream:
        stream.seek(source.warc_offset)
        record = next(iter(ArchiveIterator(stream)), None)
        headers = record.rec_headers if record is not None else None
        if headers is None or headers.get_header("WARC-Record-ID") != source.warc_record_id:
            raise DamagedObject(
                f"{source.warc}: no record {source.warc_record_id} at offset {source.warc_offset} "
                f"(article {version.article_id} v{version.version} cites it)"
            )
        timestamp = iso_date_to_timestamp(headers.get_header("WARC-Date"))
        url = headers.get_header("WARC-Target-URI")
    return Capture(version.article_id, version.version, run_id, wacz, _collection(run_id), timestamp, url)


def _wacz_for(bucket: Bucket, run_id: str, warc: str, cache: Path) -> Path:
    """The run's WACZ in the cache (checked), downloaded from the bucket, or built on the fly when the run has
    none, or one without this WARC file (a run packaged before a reprocess)."""
    path = cache / "wacz" / f"{_collection(run_id)}.wacz"
    member = f"archive/{_member_name(warc)}"
    if path.exists() and member in _archives(check_wacz(path, str(path))):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    key = layout.wacz_key(run_id)
    if bucket.exists(key):
        bucket.download_file(key, partial)
        if member in _archives(check_wacz(partial, key)):
            return partial.replace(path)
    seq = _snapshot_citing(bucket, run_id, warc)
    log.warning("no stored WACZ holds %s: built from snapshot %s (`briefs package --at %s`)", warc, seq, seq)
    with tempfile.TemporaryDirectory(dir=cache, prefix="build-") as tmp:
        built = build_wacz(bucket, read_manifest(bucket, seq).manifest, Path(tmp) / "capture.wacz")
        check_wacz(built, f"the WACZ built for snapshot {seq}")
        return built.replace(path)


def _snapshot_citing(bucket: Bucket, run_id: str, warc: str) -> int:
    """The newest snapshot of `run_id` listing `warc`, found through the run's commit receipts (one listing)."""
    seqs = {
        p[0] for o in bucket.list(layout.receipts_prefix(run_id)) if (p := layout.receipt_parts(o["key"]))
    }
    for seq in sorted(seqs, reverse=True):
        if bucket.exists(layout.snapshot_key(seq)):
            manifest = read_manifest(bucket, seq).manifest
            if manifest.run_id == run_id and warc in manifest.warc:
                return seq
    raise ReplayError(f"no snapshot of run {run_id} lists {warc}: nothing to package it from")


def _collection(run_id: str) -> str:
    """A pywb collection name per run: readable, and unique however the run id is spelled."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", run_id).strip("-")[:60]
    return f"{slug}-{hashlib.sha1(run_id.encode()).hexdigest()[:8]}"
