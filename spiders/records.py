"""One fetch record per candidate: what was fetched, how it ended, and where its bytes are in the WARC files.

Status is one of ``fetched``, ``redirected`` (fetched via a redirect; the old URL becomes an alias),
``not_modified`` (304 to a conditional GET), ``gone`` (404/410: a removal, for tombstones) and ``failed``
(with a one-line ``reason``). ``problems`` lists what the clean stage should know (e.g. a wrong charset).
``base_seq`` names the archive snapshot the run's crawl state came from.

A rejected post id (see ``urls.valid_post_id``) never becomes ``post_id``: it is a ``bad_post_id: ...`` problem,
and a fetched page with no valid id but a rejected one fails with that as its reason. A malformed value in
the page's markup (see ``page_facts``) is a problem too, never a lost record; ``safe_fetch_record`` is the
last resort that turns an unforeseen exception into a ``failed`` record.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError

from .discovery import Candidate, iso_utc
from .page_facts import page_facts
from .state import KnownPost
from .urls import BadUrl, canonical_url, same_site

log = logging.getLogger(__name__)

HTML_TYPES = ("text/html", "application/xhtml+xml")


def failure_reason(failure) -> str:
    """A one-line reason for a failed request, without tracebacks."""
    exc = failure.value
    if isinstance(exc, HttpError):
        return f"HTTP {exc.response.status} after retries"
    if isinstance(exc, ResponseDataLossError):
        return "truncated response: fewer bytes than the declared Content-Length"
    if isinstance(exc, DownloadCancelledError):
        return f"response larger than the size limit: {exc}"
    if isinstance(exc, DownloadTimeoutError):
        return "timed out"
    if isinstance(exc, (DownloadFailedError, DownloadConnectionRefusedError, CannotResolveHostError)):
        return f"connection failed: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}".splitlines()[0][:300]


def lasting_failure(failure) -> bool:
    """A refusal that will still be there tomorrow (a 4xx but 429), not a passing outage (5xx, timeouts)."""
    exc = failure.value
    status = exc.response.status if isinstance(exc, HttpError) else None
    return status is not None and 400 <= status < 500 and status != 429


def fetch_record(
    response: Response | None,
    candidate: Candidate,
    known: KnownPost | None,
    base_url: str,
    reason: str | None = None,
    request=None,
    base_seq: int | None = None,
) -> dict:
    """The one record of a candidate: ``response`` is None when the request failed (``reason`` says why)."""
    meta = (response.meta if response is not None else request.meta) or {}
    redirects = [u for u in (_canonical(u, base_url) for u in meta.get("redirect_urls", [])) if u]
    record = {
        "post_id": candidate.post_id or (known.post_id if known else None),
        "edition": candidate.edition,
        "url": candidate.url,
        "requested_url": candidate.url,
        "aliases": sorted(candidate.aliases | set(known.aliases if known else ())),
        "translations": {},
        "status": "failed",
        "reason": reason,
        "http_status": None,
        "fetched_at": iso_utc(datetime.now(UTC)),
        "etag": known.etag if known else None,
        "last_modified": known.last_modified if known else None,
        "published": iso_utc(candidate.published),
        "modified": iso_utc(candidate.modified),
        "discovered_via": sorted(candidate.surfaces),
        "rest": candidate.rest,
        "feed": candidate.feed,
        "warc_file": meta.get("warc", {}).get("file"),
        "warc_offset": meta.get("warc", {}).get("offset"),
        "warc_record_id": meta.get("warc", {}).get("record_id"),
        "problems": [
            f"bad_post_id: {where} {shown} rejected" for where, shown in sorted(candidate.bad_ids.items())
        ],
        "base_seq": base_seq,
    }
    if known and known.url != candidate.url:
        record["aliases"] = sorted(set(record["aliases"]) | {known.url})
    if response is None:
        return record
    record["http_status"] = response.status
    if response.status == 304:
        record["status"] = "not_modified"
        return record
    if response.status in (404, 410):
        record |= {"status": "gone", "reason": f"HTTP {response.status}"}
        return record
    content_type = response.headers.get("Content-Type", b"").decode("latin-1").split(";")[0].strip().lower()
    if not response.body or response.body.isspace():  # isspace() stops at the first other byte: no copy
        record["reason"] = "empty body"
        return record
    if content_type not in HTML_TYPES or not isinstance(response, TextResponse):
        record["reason"] = f"not HTML: Content-Type {content_type or 'missing'}"
        return record
    final = _canonical(response.url, base_url) or candidate.url
    if "\ufffd" in response.text and not _decodes(response.body, response.encoding):
        record["problems"].append(f"charset: bytes do not decode as the declared {response.encoding}")
    # Not response.selector: Scrapy caches it on the response, a cycle that keeps every page tree alive until
    # the collector runs; this one is freed as soon as the facts are read.
    facts = page_facts(response.text, base_url)
    if facts.canonical and same_site(facts.canonical, base_url):
        final = facts.canonical
    if facts.post_id and record["post_id"] and facts.post_id != record["post_id"]:
        record["problems"].append(f"post_id: page says {facts.post_id}, discovery said {record['post_id']}")
    aliases = set(record["aliases"]) | set(redirects) | {candidate.url}
    record |= {
        "post_id": record["post_id"] or facts.post_id,
        "url": final,
        "aliases": sorted(aliases - {final}),
        "translations": {k: v for k, v in facts.translations.items() if k != candidate.edition},
        "status": "redirected" if redirects else "fetched",
        "reason": None,
        "etag": (response.headers.get("ETag") or b"").decode("latin-1") or None,
        "last_modified": (response.headers.get("Last-Modified") or b"").decode("latin-1") or None,
        "published": iso_utc(facts.published) or record["published"],
        "modified": iso_utc(facts.modified) or record["modified"],
        "title": facts.title,
    }
    record["problems"] += [
        f"bad_post_id: {where} {shown} rejected" for where, shown in sorted(facts.bad_ids.items())
    ]
    record["problems"] += facts.problems
    if record["post_id"] is None and (candidate.bad_ids or facts.bad_ids):
        rejected = ", ".join(f"{w} {v}" for w, v in sorted((candidate.bad_ids | facts.bad_ids).items()))
        record |= {"status": "failed", "reason": f"bad_post_id: no valid post id (rejected {rejected})"[:300]}
    elif record["post_id"] is None:
        record["problems"].append("post_id: none found (no REST id, guid or shortlink)")
    return record


def _decodes(body: bytes, encoding: str) -> bool:
    """Whether the body decodes strictly; asked only when the (lenient) text has replacement characters."""
    try:
        body.decode(encoding)
        return True
    except (UnicodeDecodeError, LookupError):
        return False


def _canonical(url: str, base_url: str) -> str | None:
    try:
        return canonical_url(url, base_url)
    except BadUrl:
        return None


def safe_fetch_record(
    response: Response,
    candidate: Candidate,
    known: KnownPost | None,
    base_url: str,
    base_seq: int | None = None,
) -> dict:
    """``fetch_record`` for a response, but an unforeseen exception (a bug, markup nobody thought of) makes
    a ``failed`` record saying ``parse: <type>: <message>`` instead of losing the article from the run."""
    try:
        return fetch_record(response, candidate, known, base_url, base_seq=base_seq)
    except Exception as exc:  # last resort: this article fails, the crawl and its record go on
        log.exception("fetch record of %s failed", candidate.url)
        reason = f"parse: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        record = fetch_record(
            None, candidate, known, base_url, reason=reason, request=response.request, base_seq=base_seq
        )
        record["http_status"] = response.status
        return record
