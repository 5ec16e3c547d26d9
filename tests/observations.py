"""Cleaned records built in memory: what a commit receives, without a crawl (plan and commit tests)."""

from __future__ import annotations

from pipelines.documents import CleanedRecord, Extractor, Metadata

EXTRACTOR = Extractor(name="trafilatura", version="x", rules="1")


def observed(
    post_id: int,
    text: str,
    fetched_at: str,
    modified: str | None = None,
    base_seq: int | None = None,
    status: str = "fetched",
    url: str | None = None,
    **extra,
) -> CleanedRecord:
    live = status in ("fetched", "redirected")
    metadata = Metadata(
        title=f"Title {post_id}",
        authors=["A"],
        published="2026-01-01T00:00:00Z",
        modified=modified,
        section="news",
        tags=[],
        countries=[],
        language="en",
        canonical_url=None,
        translations={},
    )
    return CleanedRecord(
        post_id=post_id,
        edition="en",
        url=url or f"https://example.org/news/p{post_id}/",
        status=status,
        fetched_at=fetched_at,
        base_seq=base_seq,
        text=text if live else None,
        metadata=metadata if live else None,
        fingerprint=(f"{hash(text) & 0xFFFFFFFF:064x}" if live else None),
        extractor=EXTRACTOR if live else None,
        **extra,
    )
