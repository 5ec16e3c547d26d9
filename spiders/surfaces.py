"""Discovery surfaces of the briefs spider: request builders and callbacks for REST, RSS, sitemaps, archives.

A mixin of ``BriefsSpider`` (see ``spiders/briefs.py`` for the phases); parsing itself is in ``discovery``.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import scrapy

from . import discovery
from .discovery import Candidate, SurfaceError
from .records import failure_reason

TZ_MARGIN = timedelta(hours=14)  # REST date filters use the site's local time; widen, then filter on *_gmt


def step(callback):
    """Wrap a callback: when the last pending request is done, the next phase's requests follow from it.

    Discovery must be complete before fetching starts (dedupe across surfaces); waiting for Scrapy's idle signal
    instead would cost up to five seconds per phase.
    """

    @functools.wraps(callback)
    def wrapper(self, arg):
        yield from callback(self, arg) or ()
        self.pending -= 1
        if self.pending == 0:
            yield from self.next_phase()

    return wrapper


class SurfacesMixin:
    """Discovery: each surface's requests and callbacks; candidates go through ``add`` (merge by id, then URL)."""

    def surface_requests(self, edition: str, surface: str):
        meta = {"edition": edition, "surface": surface}
        if surface == "rest":
            slugs = self.categories or self.profile.editions[edition].categories
            query = urlencode(
                {"slug": ",".join(slugs), "lang": edition, "_fields": "id,slug", "per_page": 100}
            )
            yield self._discovery(
                f"{self.base_url}/wp-json/wp/v2/categories?{query}", self.rest_categories, meta
            )
        elif surface == "rss":
            for path in self.profile.editions[edition].feed_paths:
                yield self._discovery(
                    f"{self.base_url}{path}", self.rss_page, {**meta, "page": 1, "path": path}
                )
        elif surface == "sitemap":
            # One sitemap index lists every language: fetch it once, sort its URLs into the editions that asked.
            first = not self.sitemap_editions
            self.sitemap_editions.add(edition)
            if first:
                yield self._discovery(f"{self.base_url}/sitemap_index.xml", self.sitemap_page, meta)
        elif surface == "listing":
            for path in self.profile.editions[edition].listing_paths:
                yield self._discovery(f"{self.base_url}{path}", self.listing_page, meta)

    def _discovery(self, url: str, callback, meta: dict) -> scrapy.Request:
        self.crawler.stats.inc_value(f"briefs/discovery_requests/{meta['surface']}")
        self.pending += 1
        own = {k: meta[k] for k in ("edition", "surface", "page", "path", "query") if k in meta}
        return scrapy.Request(url, callback=callback, errback=self.surface_failed, meta=own, dont_filter=True)

    @step
    def surface_failed(self, failure):
        meta = failure.request.meta
        reason = failure_reason(failure)
        yield from self._fall_back(meta["edition"], meta["surface"], reason)

    def _fall_back(self, edition: str, surface: str, reason: str):
        self.crawler.stats.inc_value(f"briefs/surface_failed/{surface}")
        self.logger.warning("discovery surface %s failed for edition %s: %s", surface, edition, reason)
        if surface == "rest" and self.auto and edition not in self.fallen_back:
            self.fallen_back.add(edition)
            self.crawler.stats.set_value(f"briefs/fallback/{edition}", reason)
            for fallback in ("rss", "sitemap", "listing"):
                yield from self.surface_requests(edition, fallback)

    def _lower(self, edition: str) -> datetime | None:
        return self.after if self.mode == "window" else self.since.get(edition)

    def wanted(self, candidate: Candidate, edition: str, lastmod: datetime | None = None) -> bool:
        """Whether a candidate falls in this run's window, judged on what its surface tells."""
        if self.mode == "reconcile":
            return True
        if self.mode == "nightly":
            stamp = candidate.modified or lastmod or candidate.published
            return stamp is None or stamp > self.since[edition]
        modified = candidate.modified or lastmod
        if self.include_modified and modified is not None and self.after <= modified < self.before:
            return True
        if candidate.published is not None:
            return self.after <= candidate.published < self.before
        return lastmod is None or lastmod >= self.after  # sitemap: confirmed on the page's own date

    def add(self, candidate: Candidate) -> None:
        key = candidate.post_id if candidate.post_id is not None else None
        existing = self.key_by_url.get(candidate.url)
        if key is None or key not in self.found:
            key = existing if existing is not None else (key if key is not None else candidate.url)
        if key in self.found:
            self.found[key].merge(candidate)
            if isinstance(key, str) and candidate.post_id is not None:  # learnt the id: re-key by it
                merged = self.found.pop(key)
                self.found[candidate.post_id] = merged
                key = candidate.post_id
        else:
            self.found[key] = candidate
        for url in (candidate.url, *candidate.aliases):
            self.key_by_url[url] = key
        if candidate.bad_ids:  # a rejected id: the candidate goes on by URL; its fetch record will say why
            self.crawler.stats.inc_value("briefs/bad_post_id")
        for surface in candidate.surfaces:
            self.crawler.stats.inc_value(f"briefs/discovered/{surface}")
            if candidate.bad_ids:
                self.crawler.stats.inc_value(f"briefs/bad_post_id/{surface}")

    @step
    def rest_categories(self, response):
        meta = response.meta
        try:
            terms = [t for t in response.json() if isinstance(t, dict) and isinstance(t.get("id"), int)]
        except ValueError:
            terms = []
        if not terms:
            yield from self._fall_back(meta["edition"], "rest", "no brief categories in the REST API")
            return
        params = {
            "categories": ",".join(str(t["id"]) for t in terms),
            "lang": meta["edition"],
            "per_page": 100,
            "_fields": discovery.REST_FIELDS,
        }
        for query in self._rest_filters(meta["edition"]):
            base = f"{self.base_url}/wp-json/wp/v2/posts?{urlencode(params | query)}"
            yield self._discovery(f"{base}&page=1", self.rest_page, {**meta, "page": 1, "query": base})

    def _rest_filters(self, edition: str) -> list[dict]:
        """The REST date filters of this run (one query each), widened by TZ_MARGIN and refined on *_gmt."""

        def wp(value: datetime) -> str:
            return value.strftime("%Y-%m-%dT%H:%M:%S")

        if self.mode == "nightly":
            return [
                {
                    "modified_after": wp(self._lower(edition) - TZ_MARGIN),
                    "orderby": "modified",
                    "order": "asc",
                }
            ]
        if self.mode != "window":
            return [{"orderby": "date", "order": "asc"}]
        published = {
            "after": wp(self.after - TZ_MARGIN),
            "before": wp(self.before + TZ_MARGIN),
            "orderby": "date",
            "order": "asc",
        }
        if not self.include_modified:
            return [published]
        modified = {
            "modified_after": wp(self.after - TZ_MARGIN),
            "modified_before": wp(self.before + TZ_MARGIN),
            "orderby": "modified",
            "order": "asc",
        }
        # A window reaching the present needs no published query: a post published in it was modified in it too.
        return [modified] if self.before >= datetime.now(UTC) else [published, modified]

    @step
    def rest_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        try:
            page = discovery.read_rest_page(response.body, self.profile, edition)
        except SurfaceError as exc:
            yield from self._fall_back(edition, "rest", str(exc))
            return
        self.crawler.stats.inc_value("briefs/discovery_invalid/rest", page.invalid)
        for candidate in page.candidates + page.unidentified:
            if self.wanted(candidate, edition):
                self.add(candidate)
        total = response.headers.get("X-WP-TotalPages", b"1").decode()
        if meta["page"] == 1 and total.isdigit():
            for page in range(2, int(total) + 1):
                yield self._discovery(f"{meta['query']}&page={page}", self.rest_page, {**meta, "page": page})

    @step
    def rss_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        try:
            candidates = discovery.parse_rss(response.body, self.profile, edition)
        except SurfaceError as exc:
            yield from self._fall_back(edition, "rss", str(exc))
            return
        for candidate in candidates:
            if self.wanted(candidate, edition):
                self.add(candidate)
        oldest = min((c.published for c in candidates if c.published), default=None)
        lower = self._lower(edition)
        if candidates and oldest and (lower is None or oldest >= lower):
            page = meta["page"] + 1
            url = f"{self.base_url}{meta['path']}?paged={page}"
            yield self._discovery(url, self.rss_page, {**meta, "page": page})

    @step
    def sitemap_page(self, response):
        meta = response.meta
        try:
            kind, entries = discovery.parse_sitemap(response.body)
        except SurfaceError as exc:
            for edition in sorted(self.sitemap_editions):
                yield from self._fall_back(edition, "sitemap", str(exc))
            return
        lowers = [self._lower(e) for e in self.sitemap_editions]
        lower = None if None in lowers else min(lowers)
        if kind == "sitemapindex":
            for loc, lastmod in entries:
                if "post-sitemap" not in loc and "sitemap" in loc.rsplit("/", 1)[-1]:
                    continue  # category, page, author sitemaps list no articles
                if lower is None or lastmod is None or lastmod >= lower:
                    yield self._discovery(loc, self.sitemap_page, meta)
            return
        for loc, lastmod in entries:
            url = discovery.canonical_url(loc, self.base_url)
            if not discovery.same_site(url, self.base_url, self.host_aliases):
                self.crawler.stats.inc_value("briefs/discovery_offsite/sitemap")
                continue
            edition = self.profile.edition_of(discovery.path_of(url))
            if edition is None or edition.lang not in self.sitemap_editions:
                continue
            candidate = Candidate(url=url, edition=edition.lang, modified=lastmod, surfaces={"sitemap"})
            if self.wanted(candidate, edition.lang, lastmod):
                self.add(candidate)

    @step
    def listing_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        candidates, next_url = discovery.parse_listing(response.body, response.url, self.profile, edition)
        for candidate in candidates:
            if self.wanted(candidate, edition):
                self.add(candidate)
        oldest = min((c.published for c in candidates if c.published), default=None)
        lower = self._lower(edition)
        if next_url and candidates and (lower is None or (oldest and oldest >= lower)):
            yield self._discovery(response.urljoin(next_url), self.listing_page, meta)
