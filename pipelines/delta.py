"""The Delta Lake table of every article version (``{prefix}/tables/versions/``), derived from the manifests.

One row per version a snapshot added (read from its packs, verified), one Delta commit per snapshot whose
transaction (``txn``: app id ``APP_ID``, version = the snapshot number) records how far the table has got. So
publishing is catch-up and idempotent: it appends every snapshot after the table's last one, in order; a retried
or repeated publish adds nothing, and a publish that crashed after snapshot N resumes at N+1. Two publishers race
on the create-only log write (delta-rs 1.6 needs no DynamoDB on a store that honours ``If-None-Match: *``); the
loser gets ``CommitFailedError``, re-reads the table and sees the snapshot published. The table is a derived
product: it never alters or blocks a snapshot, and ``rebuild`` recreates it from the manifests.

Column statistics in the log are limited to small columns (``delta.dataSkippingStatsColumns``): no article text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa

from spiders.discovery import parse_time

from . import layout
from .archive import Archive, NotFound
from .documents import Extractor, Version, digest
from .export import SCHEMA as EXPORT_SCHEMA
from .export import flat_row
from .storage import Bucket, StorageConfig, StorageError
from .verified import added_versions, snapshot_seqs

if TYPE_CHECKING:
    from deltalake import DeltaTable

APP_ID = "insight-briefs/publish"  # the Delta transaction id: its version is the last snapshot published
TABLE = "versions"
TABLE_NAME = "insight-briefs versions"  # the Delta metadata name: how a table we created knows itself
UTC_TIME = pa.timestamp("us", tz="UTC")  # Delta's timestamp type: microseconds, adjusted to UTC
TIMES = ("published", "modified", "committed_at")
SCHEMA = pa.schema(
    [  # the export's columns (one definition), timestamps in Delta's unit, then provenance; aliases change
        # without a new version, so they are the index's business, not a version row's
        *(field.with_type(UTC_TIME) if field.name in TIMES else field for field in EXPORT_SCHEMA),
        ("run_id", pa.string()),
        ("warc_key", pa.string()),
        ("warc_offset", pa.int64()),
        ("warc_record_id", pa.string()),
        ("extractor", pa.string()),
    ]
).remove(EXPORT_SCHEMA.get_field_index("aliases"))
# Small columns only: min/max of the text would put every article's first words into the log, twice.
STATS_COLUMNS = (
    "article_id post_id edition version status published modified language committed_in committed_at"
)
CONFIGURATION = {  # expired-log cleanup off: a checkpoint must never cut the table's time travel short
    "delta.dataSkippingStatsColumns": ",".join(STATS_COLUMNS.split()),
    "delta.enableExpiredLogCleanup": "false",
}
BATCH = 500
MAX_CONFLICTS = 8
SEQ_KEY, SHA_KEY = "insight_briefs_snapshot", "insight_briefs_manifest_sha256"  # in each commit's metadata


class TableError(StorageError):
    """The Delta table could not be read or written; the message names the table URI and the cause only."""


@dataclass(frozen=True)
class Published:
    """What a publish appended: the snapshots (each one Delta commit) and their rows."""

    uri: str
    snapshots: list[int] = field(default_factory=list)
    rows: int = 0
    table_version: int | None = None
    upto: int | None = None  # the last snapshot the table holds now


# ---- where and how to reach the table -------------------------------------------------------------------------
def table_uri(config: StorageConfig, name: str = TABLE) -> str:
    return config.uri(layout.table_prefix(name))


def storage_options(config: StorageConfig) -> dict[str, str]:
    """delta-rs (object_store) options from the archive's storage config. Path-style requests are its default;
    plain http is allowed only when the endpoint says http (the local stack on 127.0.0.1)."""
    options = {"aws_region": config.region}
    if config.endpoint_url:
        options["aws_endpoint_url"] = config.endpoint_url
        if config.endpoint_url.startswith("http://"):
            options["aws_allow_http"] = "true"
    if config.access_key and config.secret_key:
        options["aws_access_key_id"] = config.access_key
        options["aws_secret_access_key"] = config.secret_key
    return options


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _cause(exc: BaseException, config: StorageConfig) -> str:
    """One line: the error's first line and the S3 error code, secrets removed (delta-rs does not echo keys
    today; this keeps it so)."""
    text = _ANSI.sub("", str(exc))
    for secret in (config.secret_key, config.access_key):
        if secret:
            text = text.replace(secret, "***")
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    code = re.search(r"<Code>([^<]{1,64})</Code>", text)
    return (first[:300] + (f" ({code.group(1)})" if code else "")).strip()


class VersionsTable:
    """The table at ``tables/{name}/`` of a bucket: load, how far it is published, append one snapshot."""

    def __init__(self, bucket: Bucket, name: str = TABLE):
        self.bucket = bucket
        self.name = name
        self.uri = table_uri(bucket.config, name)
        self.options = storage_options(bucket.config)

    @contextmanager
    def errors(self, doing: str):
        from deltalake.exceptions import CommitFailedError, DeltaError

        try:
            yield
        except CommitFailedError:
            raise
        except (DeltaError, OSError, ValueError, RuntimeError) as exc:
            raise TableError(f"{doing} delta table {self.uri}: {_cause(exc, self.bucket.config)}") from None

    def load(self) -> DeltaTable | None:
        """The table at its latest version, or None when there is none yet."""
        from deltalake import DeltaTable
        from deltalake.exceptions import TableNotFoundError

        with self.errors("reading"):
            try:
                return DeltaTable(self.uri, storage_options=self.options)
            except TableNotFoundError:
                return None

    def ensure(self) -> DeltaTable:
        """The table, created empty first when missing. Creation is its own create-only commit: delta-rs lets two
        writers that both create a table with their first append commit versions 0 and 1, the same rows twice."""
        from deltalake import CommitProperties, DeltaTable
        from deltalake.exceptions import CommitFailedError

        table = self.load()
        if table is not None:
            return table
        # A CommitFailedError here is a lost race: another publisher created it.
        with self.errors("creating"), suppress(CommitFailedError):
            DeltaTable.create(
                self.uri,
                SCHEMA,
                mode="ignore",
                name=TABLE_NAME,
                description="One row per article version; see docs/reading.md",
                configuration=CONFIGURATION,
                storage_options=self.options,
                commit_properties=CommitProperties(max_commit_retries=0),
            )
        table = self.load()
        if table is None:
            raise TableError(f"delta table {self.uri}: created, yet not found when read back")
        return table

    def published(self, table: DeltaTable | None) -> int:
        """The last snapshot the table holds (0: none). A table neither created nor written by us is refused."""
        if table is None:
            return 0
        with self.errors("reading"):
            done = table.transaction_version(APP_ID)
            ours = table.metadata().name == TABLE_NAME
        if done is None and not ours:
            raise TableError(
                f"delta table {self.uri} has no {APP_ID!r} transaction: not written by `briefs publish`; "
                "move it away or run `briefs publish --rebuild`"
            )
        return done or 0

    def published_from(self, table: DeltaTable | None, archive: Archive, seqs: list[int]) -> int:
        """How far the table is, once it is known to hold this archive: a table left under the prefix by another
        archive (re-created, restored) is refused, never appended to. The commit that published snapshot `done`
        recorded that manifest's digest; the table may not be ahead of the archive either."""
        done = self.published(table)
        if done > (seqs[-1] if seqs else 0):
            raise TableError(
                f"delta table {self.uri} holds snapshots up to {done} but the archive's latest is "
                f"{seqs[-1] if seqs else 'none'}: it was built from another archive; run `briefs publish --rebuild`"
            )
        if done:
            with self.errors("reading"):
                history = table.history(50)
            recorded = next(
                (c.get(SHA_KEY) for c in history if str(c.get(SEQ_KEY)) == str(done) and SHA_KEY in c), None
            )
            if recorded != archive.snapshot(done).sha256:
                raise TableError(
                    f"delta table {self.uri} holds a snapshot {done} that is not this archive's (its manifest "
                    "digest differs): it was built from another archive; run `briefs publish --rebuild`"
                )
        return done

    def append(self, table: DeltaTable, seq: int, data: pa.Table, run_id: str, sha256: str) -> bool:
        """One Delta commit holding snapshot `seq`'s rows, with txn version `seq`. False when another writer
        committed first (the caller re-reads the table and plans again): no retry inside delta-rs, so the
        order of snapshots is ours to keep."""
        from deltalake import CommitProperties, Transaction, write_deltalake
        from deltalake.exceptions import CommitFailedError

        properties = CommitProperties(
            app_transactions=[Transaction(APP_ID, seq)],
            max_commit_retries=0,
            custom_metadata={SEQ_KEY: seq, SHA_KEY: sha256, "insight_briefs_run_id": run_id},
        )
        with self.errors(f"appending snapshot {seq} to"):
            try:
                write_deltalake(
                    table,
                    data,
                    mode="append",
                    writer_properties=_writer_properties(),
                    commit_properties=properties,
                )
            except CommitFailedError:
                return False
        return True

    def delete_objects(self) -> int:
        """Remove every object of the table (a rebuild of a table whose log cannot be read)."""
        keys = [o["key"] for o in self.bucket.list(layout.table_prefix(self.name))]
        for key in keys:
            self.bucket.delete(key)
        return len(keys)


def _writer_properties():
    """zstd, and no Parquet min/max for the long text columns either."""
    from deltalake import WriterProperties
    from deltalake.writer.properties import ColumnProperties

    quiet = ColumnProperties(statistics_enabled="NONE")
    return WriterProperties(compression="ZSTD", column_properties={"text": quiet, "markdown": quiet})


# ---- rows -----------------------------------------------------------------------------------------------------
def version_row(doc: Version, line: bytes, seq: int, committed_at: str) -> dict:
    """A table row: the export's columns (one row function for both products) plus provenance."""
    row = flat_row(doc, None, seq, committed_at)
    provenance = doc.provenance
    row |= {
        "version_key": layout.version_key(doc.article_id, doc.version, digest(line)),
        "run_id": provenance.run_id,
        "warc_key": provenance.warc,
        "warc_offset": provenance.warc_offset,
        "warc_record_id": provenance.warc_record_id,
        "extractor": _extractor(doc.extractor),
    }
    return row | {name: parse_time(row[name]) for name in TIMES}


def _extractor(extractor: Extractor | None) -> str | None:
    return f"{extractor.name} {extractor.version} (rules {extractor.rules})" if extractor else None


def snapshot_batches(archive: Archive, seq: int) -> Iterator[pa.RecordBatch]:
    """The versions snapshot `seq` added, from its packs (each checked against the digest its key names; the
    manifest that names them is verified), as record batches of the table's schema."""
    manifest = archive.manifest(seq)
    rows: list[dict] = []
    for line, doc in added_versions(archive.bucket, manifest):
        rows.append(version_row(doc, line, seq, manifest.created_at))
        if len(rows) >= BATCH:
            yield pa.RecordBatch.from_pylist(rows, SCHEMA)
            rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, SCHEMA)


def snapshot_table(archive: Archive, seq: int) -> pa.Table:
    return pa.Table.from_batches(list(snapshot_batches(archive, seq)), SCHEMA)


# ---- publish, rebuild, lag ------------------------------------------------------------------------------------
def _target(archive: Archive, upto: int | str | None) -> tuple[list[int], int]:
    seqs = archive.seqs()
    target = archive.resolve(upto)
    missing = sorted(set(range(1, target + 1)) - set(seqs))
    if missing:
        raise NotFound(f"snapshots {missing[:10]} are missing: run `briefs verify --full` before publishing")
    return seqs, target


def publish(
    bucket: Bucket,
    upto: int | str | None = None,
    *,
    name: str = TABLE,
    on_commit: Callable[[int, int], None] | None = None,
) -> Published:
    """Append every snapshot after the table's last one up to `upto` (default: the latest), in order, one Delta
    commit each (txn version = snapshot). Calls ``on_commit(seq, rows)`` after each commit."""
    archive = Archive(bucket)
    seqs, target = _target(archive, upto)
    table = VersionsTable(bucket, name)
    current = table.ensure()
    done = table.published_from(current, archive, seqs)  # checked once; then only our commits and racers'
    appended: list[int] = []
    rows = conflicts = 0
    staged: tuple[int, pa.Table] | None = None
    while done < target:
        seq = done + 1
        if staged is None or staged[0] != seq:
            staged = (seq, snapshot_table(archive, seq))
        snapshot = archive.snapshot(seq)
        if table.append(current, seq, staged[1], snapshot.manifest.run_id, snapshot.sha256):
            appended.append(seq)
            rows += staged[1].num_rows
            if on_commit:
                on_commit(seq, staged[1].num_rows)
        else:
            conflicts += 1
            if conflicts > MAX_CONFLICTS:
                raise TableError(
                    f"delta table {table.uri}: {conflicts} commits in a row lost a race; try again"
                )
        _refresh(table, current)
        done = table.published(current)
    return Published(table.uri, appended, rows, current.version(), done)


def _refresh(table: VersionsTable, current: DeltaTable) -> None:
    with table.errors("reading"):
        current.update_incremental()


def rebuild(bucket: Bucket, upto: int | str | None = None, *, name: str = TABLE) -> Published:
    """Recreate the table from the manifests in ONE overwrite commit (txn version = `upto`): readers see the old
    table or the new one, never a partial one, and time travel still reaches the old versions until a vacuum.
    A table whose log cannot be read at all is deleted first (then readers see no table until the commit)."""
    from deltalake import CommitProperties, Transaction, write_deltalake
    from deltalake.exceptions import CommitFailedError

    archive = Archive(bucket)
    _, target = _target(archive, upto)
    table = VersionsTable(bucket, name)
    try:
        current = table.ensure()
    except TableError:  # an unreadable log; first make sure it is not the store that is unreachable
        bucket.check()
        table.delete_objects()
        current = table.ensure()
    configuration = current.metadata().configuration
    if any(configuration.get(k) != v for k, v in CONFIGURATION.items()):
        with table.errors("configuring"):
            current.alter.set_table_properties(CONFIGURATION, raise_if_not_exists=False)
    source = _Source(archive, range(1, target + 1))
    properties = CommitProperties(
        app_transactions=[Transaction(APP_ID, target)],
        max_commit_retries=0,
        custom_metadata={
            SEQ_KEY: target,
            SHA_KEY: archive.snapshot(target).sha256,
            "insight_briefs_rebuild": True,
        },
    )
    try:
        with table.errors("rebuilding"):
            write_deltalake(
                current,
                pa.RecordBatchReader.from_batches(SCHEMA, source.batches()),
                mode="overwrite",
                schema_mode="overwrite",
                writer_properties=_writer_properties(),
                commit_properties=properties,
            )
    except CommitFailedError:
        raise TableError(
            f"delta table {table.uri}: a publish committed during the rebuild; run it again"
        ) from None
    except TableError:
        if source.failure is not None:  # the archive's own error (a damaged pack), not delta-rs's rewording
            raise source.failure from None
        raise
    _refresh(table, current)
    return Published(table.uri, list(range(1, target + 1)), source.rows, current.version(), target)


class _Source:
    """The rows of many snapshots as one stream, counted; an error reading the archive is kept to re-raise as
    itself once delta-rs has given up on the stream."""

    def __init__(self, archive: Archive, seqs: Iterable[int]):
        self.archive, self.seqs = archive, seqs
        self.rows = 0
        self.failure: Exception | None = None

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            for seq in self.seqs:
                for batch in snapshot_batches(self.archive, seq):
                    self.rows += batch.num_rows
                    yield batch
        except Exception as exc:
            self.failure = exc
            raise


def lag(bucket: Bucket, name: str = TABLE) -> list[int]:
    """The committed snapshots the table lacks, ascending (empty: up to date). For ``briefs verify``: a lagging
    table is a failed or pending publish, not damage to the archive."""
    table = VersionsTable(bucket, name)
    seqs = snapshot_seqs(bucket)
    done = table.published_from(table.load(), Archive(bucket), seqs)
    return [seq for seq in seqs if seq > done]
