"""The archive's documents as code: every object that crosses a process or the bucket has one schema here.

Documents are ``msgspec`` structs: decoding validates types and refuses unknown fields, and encoding is
deterministic (fields in a fixed order, dict keys sorted), so equal content always gives equal bytes and equal
digests. docs/storage.md describes the same fields (``tests/test_documents.py`` checks that it does).

A reader never trusts a document because of where it found it: ``decode`` turns any malformed input into
``DamagedObject`` naming the key and what was wrong, and the digests recorded by a referrer are checked in
``pipelines.verified``.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Annotated, Any, Literal, TypeVar

import msgspec

FORMAT = "insight-briefs/3"  # 3: the index is a base plus deltas (`index_base`, `index_deltas`)
Format = Literal["insight-briefs/3"]
PostId = Annotated[int, msgspec.Meta(gt=0, le=2**63 - 1)]
Sha256 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
Count = Annotated[int, msgspec.Meta(ge=0)]
Status = Literal["live", "gone"]


class DamagedObject(ValueError):
    """An object is missing, truncated, malformed or not what its referrer recorded; the message names the key."""


class Doc(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    """Base of every document: strict on read, deterministic on write. Untracked by the garbage collector
    (documents hold only strings, numbers, lists and dicts: no cycles), so that holding a 20,000-entry index
    does not make every collection walk it: that halves the time to read one."""


# ---- the stages' records (run-scoped staging) ---------------------------------------------------------------
class FetchRecord(Doc):
    """One crawled candidate (``runs/{run}/crawl/records.jsonl``); see spiders/records.py for the statuses."""

    post_id: PostId | None
    edition: str
    url: str
    status: Literal["fetched", "redirected", "not_modified", "gone", "failed"]
    fetched_at: str
    format: Format = FORMAT
    requested_url: str | None = None
    aliases: list[str] = []
    translations: dict[str, str] = {}
    reason: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    published: str | None = None
    modified: str | None = None
    title: str | None = None
    discovered_via: list[str] = []
    rest: dict[str, Any] | None = None
    feed: dict[str, Any] | None = None
    warc_file: str | None = None
    warc_offset: int | None = None
    warc_record_id: str | None = None
    problems: list[str] = []
    base_seq: int | None = None
    warc_key: str | None = None  # a re-clean: the WARC file's key when it is another run's
    reextract_of: str | None = None  # a re-clean: the version whose WARC record this re-extracts


class Extractor(Doc):
    name: str
    version: str
    rules: str


class Metadata(Doc):
    title: str | None
    authors: list[str]
    published: str | None
    modified: str | None
    section: str | None
    tags: list[str]
    countries: list[str]
    language: str | None
    canonical_url: str | None
    translations: dict[str, str]


class CleanedRecord(Doc):
    """One observation ready to commit (``runs/{run}/cleaned.jsonl.gz``): a cleaned page or a passed-through
    outcome (gone, not modified, failed). ``base_seq`` is the snapshot the run planned against; a re-clean
    names the version it re-extracted in ``reextract_of``."""

    post_id: PostId | None
    edition: str | None
    url: str
    status: Literal["fetched", "redirected", "not_modified", "gone", "failed"]
    format: Format = FORMAT
    fetched_at: str | None = None
    base_seq: int | None = None
    aliases: list[str] = []
    translations: dict[str, str] = {}
    etag: str | None = None
    last_modified: str | None = None
    http_status: int | None = None
    warc_file: str | None = None
    warc_key: str | None = None
    warc_offset: int | None = None
    warc_record_id: str | None = None
    reason: str | None = None
    reextract_of: str | None = None
    text: str | None = None
    markdown: str | None = None
    metadata: Metadata | None = None
    fingerprint: Sha256 | None = None
    extractor: Extractor | None = None
    quality: list[str] = []

    @property
    def article_id(self) -> str:
        """Identity: the WordPress post id; a page without one is known by its canonical URL."""
        if self.post_id is not None:
            return str(self.post_id)
        return "u" + hashlib.sha1(self.url.encode()).hexdigest()[:12]

    @property
    def modified(self) -> str | None:
        return self.metadata.modified if self.metadata else None


# ---- the archive (immutable objects) ------------------------------------------------------------------------
class Provenance(Doc):
    """Where a version came from: seek to ``warc_offset`` in ``warc`` for the exact bytes."""

    run_id: str
    base_seq: int | None
    fetched_at: str | None
    http_status: int | None
    warc: str | None
    warc_offset: int | None
    warc_record_id: str | None


class Version(Doc):
    """One immutable version of one article (``articles/{id}/v{N}-{digest}.json.gz``); a tombstone has
    ``status: gone`` and no text. ``previous`` and ``previous_sha256`` make a history a verified walk."""

    format: Format
    site: str
    article_id: str
    post_id: PostId | None
    version: Annotated[int, msgspec.Meta(ge=1)]
    previous: str | None
    previous_sha256: Sha256 | None
    status: Status
    fingerprint: str
    url: str
    edition: str | None
    provenance: Provenance
    text: str | None = None
    markdown: str | None = None
    metadata: Metadata | None = None
    extractor: Extractor | None = None
    quality: list[str] = []


class IndexEntry(Doc):
    """One article in a snapshot's index (``indexes/{sha256}.jsonl.gz``). ``sha256`` is the digest of the
    version document's JSON (the gunzipped version object, and its line in ``pack``). ``observed_at`` and
    ``observed_in`` say when (fetch time, snapshot) the current content was last seen: a commit uses them to
    never let an older observation replace a newer one."""

    article_id: str
    post_id: PostId | None
    edition: str | None
    url: str
    aliases: list[str]
    translations: dict[str, str]
    status: Status
    version: Annotated[int, msgspec.Meta(ge=1)]
    key: str
    sha256: Sha256
    fingerprint: str
    title: str | None
    published: str | None
    modified: str | None
    observed_at: str | None
    observed_in: Annotated[int, msgspec.Meta(ge=1)]
    etag: str | None
    last_modified: str | None
    pack: str | None = None
    pack_line: Count | None = None


class IndexRef(Doc):
    key: str
    sha256: Sha256
    articles: Count


class Counts(Doc):
    """The archive's totals after the commit (articles, live, gone) and what this run did (the rest)."""

    articles: Count
    live: Count
    gone: Count
    new: Count
    changed: Count
    removed: Count
    aliased: Count
    superseded: Count
    unchanged: Count
    not_modified: Count
    failed: Count
    gone_unknown: Count
    rejected_empty: Count


class Changes(Doc):
    """Article ids per kind of change this run made; ``superseded`` are observations older than the current
    version (a stale run): counted, listed, and never made current."""

    new: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    aliased: list[str] = []
    superseded: list[str] = []


class Manifest(Doc):
    """A snapshot (``snapshots/{seq:08d}.json``): the commit point, written last and create-only. Its index is
    ``index_base`` (a whole index) with ``index_deltas`` applied in order: each delta holds only the entries
    one commit changed, so a quiet night writes bytes in proportion to its changes, not to the archive."""

    format: Format
    site: str
    seq: Annotated[int, msgspec.Meta(ge=1)]
    parent: Annotated[int, msgspec.Meta(ge=1)] | None
    parent_sha256: Sha256 | None
    run_id: str
    input_sha256: Sha256
    created_at: str
    run: dict[str, Any]
    index_base: IndexRef
    counts: Counts
    changes: Changes
    high_water: dict[str, str]
    warc: list[str]
    packs: list[str]
    extractor: Extractor
    index_deltas: list[IndexRef] = []

    @property
    def index_files(self) -> list[IndexRef]:
        """The files its index is read from, in the order they apply: the base, then each delta."""
        return [self.index_base, *self.index_deltas]


class CommitReceipt(Doc):
    """``commits/{run_id}/{seq:08d}-{input}.json``, written before the manifest it names: how a retry finds
    its own commit in one listing, however many snapshots came after it."""

    format: Format
    run_id: str
    input_sha256: Sha256
    seq: Annotated[int, msgspec.Meta(ge=1)]


# ---- encoding and decoding ----------------------------------------------------------------------------------
_encoder = msgspec.json.Encoder(order="sorted")
T = TypeVar("T", bound=Doc)


def encode(document: Doc | dict) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces): what every digest in the archive is taken over."""
    return _encoder.encode(document)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(kind: type[T], data: bytes, key: str) -> T:
    """Parse and validate one document; anything malformed is a DamagedObject naming `key`."""
    try:
        return decoder(kind).decode(data)
    except msgspec.ValidationError as exc:
        raise DamagedObject(f"{key}: not a valid {kind.__name__} ({exc})") from None
    except msgspec.DecodeError as exc:
        raise DamagedObject(f"{key}: not JSON ({exc})") from None


def decoder(kind: type[T]) -> msgspec.json.Decoder:
    """The shared, ready-built decoder of a document type. A module defining a document of its own calls this
    at import (imports run one at a time), so that no two threads ever build one type's decoder together."""
    if kind not in _DECODERS:
        _DECODERS[kind] = _decoder(kind)
    return _DECODERS[kind]


def to_builtins(document: Doc) -> dict:
    """Plain dicts and lists, for JSON printing and Arrow tables."""
    return msgspec.to_builtins(document, order="sorted")


def _decoder(kind: type[Doc]) -> msgspec.json.Decoder:
    """A decoder whose type information is already built: msgspec builds it on first use, and two threads doing
    that at once for the same type can crash the process, so it happens here, once, at import."""
    decoder = msgspec.json.Decoder(kind)
    with contextlib.suppress(msgspec.ValidationError):
        decoder.decode(b"{}")
    return decoder


_DECODERS: dict[type, msgspec.json.Decoder] = {
    kind: _decoder(kind)
    for kind in (
        FetchRecord,
        CleanedRecord,
        Version,
        IndexEntry,
        Manifest,
        CommitReceipt,
        Metadata,
        Extractor,
    )
}
