"""Clean stage: article HTML read back from WARC, cleaned by trafilatura into text, markdown and metadata.

Pages are cleaned in a process pool (every core) with a bounded number in flight, so memory stays flat however
many pages a run holds. ``clean_page`` is pure: the same bytes always give the same record.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import trafilatura
from lxml import html as lxml_html
from parsel import Selector
from trafilatura.xml import xmltotxt
from warcio.archiveiterator import ArchiveIterator

from spiders.sites import SiteProfile

from . import chrome
from .documents import FORMAT, FetchRecord, decode
from .metadata import extract_metadata

SHORT_BODY_CHARS = 400
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
_MD_LINK_WHOLE = re.compile(r"\[([^\]]*)\]\([^)\s]*\)")  # trafilatura renders kept links even in plain text


class UnreadablePage(ValueError):
    """The input is not an HTML page that can be cleaned (empty, binary, unparseable)."""


def decode_html(body: bytes, declared: str | None) -> tuple[str, list[str]]:
    """Bytes to text: the declared charset if the bytes agree, else UTF-8, else cp1252 (flagged)."""
    if not body.strip():
        raise UnreadablePage("empty page")
    if b"\x00" in body[:2048]:
        raise UnreadablePage("binary content, not HTML")
    for charset in filter(None, (declared, "utf-8")):
        try:
            return body.decode(charset), []
        except (UnicodeDecodeError, LookupError):
            continue
    return body.decode("cp1252", errors="replace"), ["charset_fallback"]


def extractor(profile: SiteProfile) -> dict:
    """Who made a version: trafilatura's version and the site's rules (either changing is a new extractor)."""
    rules = f"{profile.clean.version}+chrome-{chrome.ENGINE_VERSION}"
    return {"name": "trafilatura", "version": trafilatura.__version__, "rules": rules}


def guess_language(text: str, stopwords: dict[str, frozenset[str]]) -> str | None:
    """The site language whose stopwords the text uses most (at least five), if any."""
    if not stopwords:
        return None
    words = re.findall(r"[^\W\d_]+", text.lower()[:4000])
    scores = {lang: sum(w in stop for w in words) for lang, stop in stopwords.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] >= 5 else None


def fingerprint(text: str, title: str | None, authors: list[str], published: str | None) -> str:
    """What identifies a version: normalised text plus the title, byline and date a reader sees."""
    norm = unicodedata.normalize("NFC", " ".join(text.split()))
    payload = json.dumps([norm, title or "", authors, published or ""], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def clean_page(
    html: str | bytes,
    url: str,
    profile: SiteProfile,
    edition: str = "en",
    rest: dict | None = None,
    declared_charset: str | None = None,
    feed: dict | None = None,
) -> dict:
    """Clean one page into {text, markdown, metadata, fingerprint, extractor, quality}; `rest` and `feed` are
    what the discovery surfaces said about the post (metadata the page may not carry)."""
    flags: list[str] = []
    if isinstance(html, bytes):
        html, flags = decode_html(html, declared_charset)
    if not html.strip():
        raise UnreadablePage("empty page")
    try:
        # Comments and processing instructions go at parse time: after an inline ``<!-- -->`` or ``<?php ?>``
        # trafilatura drops the rest of the paragraph. A parser per page: lxml parsers are not thread-safe.
        parser = lxml_html.HTMLParser(remove_comments=True, remove_pis=True)
        tree = lxml_html.document_fromstring(html, parser=parser)
    except (ValueError, lxml_html.etree.ParserError) as exc:
        raise UnreadablePage(f"not parseable as HTML: {exc}") from None
    metadata, gaps = extract_metadata(
        Selector(root=tree, type="html"), url, edition, profile, rest, feed=feed
    )
    chrome.strip_chrome(tree, profile.clean)
    cross_links = chrome.unlink_see_also(tree, url, profile.clean)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        include_links=True,
        include_formatting=True,
        include_comments=False,
        include_tables=True,
        with_metadata=False,
    )
    body = document.body if document is not None else None
    plain = _MD_LINK_WHOLE.sub(r"\1", xmltotxt(body, include_formatting=False)) if body is not None else ""
    paragraphs = _paragraphs(plain)
    paragraphs = chrome.clean_lines(paragraphs, profile.clean)
    markdown_blocks = _paragraphs(xmltotxt(body, include_formatting=True)) if body is not None else []
    markdown_blocks = [cross_links.get(block.replace("*", "").strip(), block) for block in markdown_blocks]
    markdown = "\n\n".join(chrome.clean_lines(markdown_blocks, profile.clean))
    markdown = _MD_LINK.sub(lambda m: f"]({urljoin(url, m.group(1))})", markdown)
    text = "\n\n".join(paragraphs)
    quality = _quality(text, metadata, edition, profile, gaps) + flags
    return {
        "text": text,
        "markdown": markdown,
        "metadata": metadata,
        "fingerprint": fingerprint(text, metadata["title"], metadata["authors"], metadata["published"]),
        "extractor": extractor(profile),
        "quality": quality,
    }


def _paragraphs(rendered: str) -> list[str]:
    return [" ".join(line.split()) for line in rendered.split("\n") if line.strip()]


def _quality(text: str, metadata: dict, edition: str, profile: SiteProfile, gaps: list[str]) -> list[str]:
    flags = []
    if not any(len(p) >= 80 for p in text.split("\n\n")):  # no sentence-sized paragraph: navigation at best
        flags.append("empty_body")
    elif len(text) < SHORT_BODY_CHARS:
        flags.append("short_body")
    if chrome.leaked_phrases(text, profile.clean):
        flags.append("boilerplate_leak")
    if not metadata["title"]:
        flags.append("missing_title")
    flags += gaps  # missing_authors / missing_date / missing_tags (pipelines.metadata.metadata_gaps)
    detected = guess_language(text, profile.stopwords)
    if detected and detected != edition:
        flags.append("language_mismatch")
    return flags


# ---- the stage ------------------------------------------------------------------------------------------------
@dataclass
class CleanStats:
    pages: int = 0
    cleaned: int = 0
    failed: int = 0
    passed_through: Counter = field(default_factory=Counter)
    quality: Counter = field(default_factory=Counter)
    text_chars: int = 0

    def as_dict(self) -> dict:
        return {
            "mean_chars": round(self.text_chars / self.cleaned, 1) if self.cleaned else 0,
            "pages": self.pages,
            "cleaned": self.cleaned,
            "failed": self.failed,
            "passed_through": dict(self.passed_through),
            "quality": dict(self.quality),
        }


def read_response(warc_path: Path, offset: int) -> tuple[bytes, str | None]:
    """The HTTP payload (decoded from Content-Encoding) of the WARC response at `offset`, and its charset."""
    with open(warc_path, "rb") as handle:
        handle.seek(offset)
        record = next(iter(ArchiveIterator(handle)))
        if record.rec_type != "response":
            raise UnreadablePage(f"{warc_path.name}@{offset} is a {record.rec_type} record, not a response")
        content_type = record.http_headers.get_header("Content-Type") or ""
        charset = re.search(r"charset=([\w-]+)", content_type)
        return record.content_stream().read(), charset.group(1) if charset else None


def _clean_task(args: tuple) -> tuple[str, list[str], int, str]:
    """In a worker: read, clean and serialise one page; returns (status, quality flags, text length, JSON line)."""
    record, warc_path, profile = args
    try:
        body, charset = read_response(Path(warc_path), record["warc_offset"])
        cleaned = clean_page(
            body, record["url"], profile, record["edition"], record.get("rest"), charset, record.get("feed")
        )
    except (UnreadablePage, OSError, StopIteration, ValueError) as exc:
        result = {**_identity(record), "status": "failed", "reason": f"clean: {exc}"[:300]}
        return "failed", [], 0, json.dumps(result, ensure_ascii=False)
    except Exception as exc:
        reason = f"clean: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        result = {**_identity(record), "status": "failed", "reason": reason}
        return "failed", [], 0, json.dumps(result, ensure_ascii=False)
    result = {**_identity(record), "status": "fetched", **cleaned}
    return "fetched", cleaned["quality"], len(cleaned["text"]), json.dumps(result, ensure_ascii=False)


def _clean_batch(batch: list[tuple]) -> list[tuple[str, list[str], int, str]]:
    return [_clean_task(args) for args in batch]


def _batches(items: Iterable, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _identity(record: dict) -> dict:
    keys = (
        "post_id",
        "edition",
        "url",
        "aliases",
        "translations",
        "etag",
        "last_modified",
        "fetched_at",
        "warc_file",
        "warc_key",
        "warc_offset",
        "warc_record_id",
        "http_status",
        "base_seq",
        "reextract_of",
    )
    return {"format": FORMAT} | {k: record.get(k) for k in keys}


def bounded_map(executor: ProcessPoolExecutor, fn, items: Iterable, window: int) -> Iterator:
    """``executor.map`` that keeps at most `window` items in flight, in order: flat memory on any input size."""
    pending: list[Future] = []
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for future in pending:
        yield future.result()


def clean_run(
    records_path: Path, warc_dir: Path, out_path: Path, profile: SiteProfile, workers: int | None = None
) -> CleanStats:
    """Clean every fetched page of a crawl; gone/not-modified records pass through for the commit."""
    stats = CleanStats()
    workers = workers or os.cpu_count() or 1

    def tasks() -> Iterator[tuple]:
        with open(records_path, "rb") as handle:
            for number, line in enumerate(handle, 1):
                decode(FetchRecord, line, f"{records_path.name} line {number}")  # refuse malformed input
                record = json.loads(line)
                if record["status"] in ("fetched", "redirected") and record.get("warc_file"):
                    stats.pages += 1
                    yield record, str(warc_dir / record["warc_file"]), profile
                else:
                    stats.passed_through[record["status"]] += 1
                    passthrough.append(record)

    passthrough: list[dict] = []
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".part")
    with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=5) as out, ProcessPoolExecutor(workers) as pool:
        for batch in bounded_map(pool, _clean_batch, _batches(tasks(), 8), window=workers * 4):
            for status, quality, chars, line in batch:
                if status == "failed":
                    stats.failed += 1
                else:
                    stats.cleaned += 1
                    stats.text_chars += chars
                    stats.quality.update(quality)
                out.write(line + "\n")
        for record in passthrough:  # gone / not modified / failed: small, and only the commit reads them
            out.write(json.dumps({**_identity(record), "status": record["status"]}) + "\n")
    os.replace(tmp, out_path)
    return stats
