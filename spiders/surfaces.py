"""Discovery surfaces of the briefs spider: requests, outcomes and fallbacks; RSS, sitemaps and archives.

A mixin of ``BriefsSpider`` (see ``spiders/briefs.py`` for the phases); the REST API is ``spiders/rest.py``,
parsing is in ``discovery``. Every surface applies the profile's scope: REST by the scope's
category ids (descendants included), feeds and archives by category (WordPress includes child categories), and
sitemaps by the profile's permalink shapes. Paging is bounded on every surface.
"""

from __future__ import annotations

import functools
from datetime import datetime

import scrapy
from scrapy.spidermiddlewares.httperror import HttpError

from . import discovery
from .discovery import Candidate, SurfaceError
from .editions import Strategy
from .records import failure_reason, fetch_record, lasting_failure
from .urls import origin_of

MAX_FEED_PAGES = 500
MAX_LISTING_PAGES = 500
MAX_SITEMAP_FILES = 500  # Yoast: 1,000 URLs per file
SURFACES = ("rest", "rss", "sitemap", "listing")


def step(callback):
    """Wrap a callback: when the last pending request is done, the next phase's requests follow from it.

    Discovery must be complete before fetching starts (dedupe across surfaces); waiting for Scrapy's idle signal
    instead would cost up to five seconds per phase. An exception in a callback ends only its own item or
    surface (``surface_raised``), never the crawl's discovery.
    """

    @functools.wraps(callback)
    def wrapper(self, arg, **kwargs):
        try:
            yield from callback(self, arg, **kwargs) or ()
        except Exception as exc:
            yield from self.surface_raised(arg, exc)
        self.pending -= 1
        if self.pending == 0:
            yield from self.next_phase()

    return wrapper


class SurfacesMixin:
    """Discovery: each surface's requests and callbacks; candidates go through ``add`` (merge by id, then URL)."""

    def surface_requests(self, edition: str, surface: str):
        meta = {"edition": edition, "surface": surface}
        spec = self.profile.editions[edition]
        if surface == "rest":
            yield from self.rest_start(edition)
        elif surface == "rss":
            for path in spec.feed_paths:
                yield self._discovery(
                    f"{self.base_url}{path}", self.rss_page, {**meta, "page": 1, "path": path}
                )
        elif surface == "sitemap":
            # One sitemap index lists every language of an install: fetch each once, sort URLs into editions.
            # An edition joining later gets the URLs already read (and every sitemap still to come).
            self.sitemap_editions.add(edition)
            self._sitemap_urls(self.sitemap_entries, {edition})
            indexes = [("", False)]
            strategy = self.strategies.get(edition) or self.state.strategies.get(edition)
            if spec.install and (strategy is None or strategy.rest_root in (spec.install, None)):
                indexes.append((spec.install, True))  # a separate install has its own (absent otherwise)
            for root, optional in indexes:
                url = f"{self.base_url}{root}/sitemap_index.xml"  # Yoast; WordPress core's is the fallback
                if url not in self.sitemap_files:
                    self.sitemap_files.add(url)
                    core = f"{self.base_url}{root}/wp-sitemap.xml"
                    yield self._discovery(
                        url, self.sitemap_page, {**meta, "optional": optional, "core": core}
                    )
        elif surface == "listing":
            for path in spec.listing_paths:
                yield self._discovery(f"{self.base_url}{path}", self.listing_page, {**meta, "page": 1})

    def _discovery(
        self, url: str, callback, meta: dict, cb_kwargs: dict | None = None, errback=None
    ) -> scrapy.Request:
        self.crawler.stats.inc_value(f"briefs/discovery_requests/{meta['surface']}")
        self.pending += 1
        keep = ("edition", "surface", "page", "path", "query", "optional", "core")
        own = {k: meta[k] for k in keep if k in meta}
        return scrapy.Request(
            url,
            callback=callback,
            errback=errback or self.surface_failed,
            meta=own,
            cb_kwargs=cb_kwargs or {},
            dont_filter=True,
        )

    # ---- outcomes -----------------------------------------------------------------------------------------
    def surface_report(self) -> dict:
        """Per edition and surface: ok / failed / skipped / unused, why, and how many candidates it gave."""
        report: dict = {}
        for edition in self.editions:
            for surface in SURFACES:
                status, reason = self.surface_status.get((edition, surface), ("unused", None))
                found = self.crawler.stats.get_value(f"briefs/found/{edition}/{surface}", 0)
                report.setdefault(edition, {})[surface] = {"status": status, "reason": reason, "found": found}
        return report

    def _mark(self, edition: str, surface: str, status: str, reason: str | None = None) -> None:
        """A surface's outcome for an edition; a failure is never overwritten by a later success."""
        current = self.surface_status.get((edition, surface))
        if current is None or current[0] != "failed":
            self.surface_status[(edition, surface)] = (status, reason)

    @step
    def surface_failed(self, failure):
        meta = failure.request.meta
        reason = failure_reason(failure)
        status = failure.value.response.status if isinstance(failure.value, HttpError) else None
        if meta["surface"] == "rest" and meta.get("page", 1) > 1 and status == 400:
            # WordPress answers 400 past the last page: the listing shrank while we paged. Stop here.
            self.crawler.stats.inc_value("briefs/rest_paging_ended_early")
            return
        if meta.get("core"):  # no Yoast sitemap index: WordPress core's (5.5+) then
            yield self._discovery(meta["core"], self.sitemap_page, {**meta, "core": None})
            return
        if meta.get("optional"):
            self.crawler.stats.inc_value(f"briefs/optional_missing/{meta['surface']}")
            return
        lasting = lasting_failure(failure)
        if meta["surface"] == "rest" and "query" in meta:  # a posts query: a cached strategy gets a re-probe
            yield from self._rest_failed(meta["edition"], reason, meta["page"], lasting)
            return
        yield from self._fall_back(meta["edition"], meta["surface"], reason, lasting)

    def surface_raised(self, arg, exc: Exception):
        """A callback raised: its article gets a failed record, or its surface falls back like a refused one."""
        request = getattr(arg, "request", None)
        meta = (request.meta if request is not None else arg.meta) or {}
        reason = f"parse: {type(exc).__name__}: {exc}".splitlines()[0][:300]
        self.crawler.stats.inc_value("briefs/callback_raised")
        self.logger.error("callback raised on %s: %s", getattr(request or arg, "url", "?"), reason)
        if "candidate" in meta:
            record = fetch_record(
                None,
                meta["candidate"],
                meta.get("known"),
                self.base_url,
                reason=reason,
                request=request,
                base_seq=self.state.base_seq,
            )
            self._count(record)
            yield record
        elif "surface" in meta:
            yield from self._fall_back(meta["edition"], meta["surface"], reason)

    def _fall_back(self, edition: str, surface: str, reason: str, lasting: bool = False):
        """The surface failed for the edition: REST hands over to the other surfaces. A `lasting` REST failure
        (refused, not found, not an API) is remembered so the next runs skip it until the weekly re-probe; a
        passing one (timeouts, 5xx) is not."""
        self.crawler.stats.inc_value(f"briefs/surface_failed/{surface}")
        self._mark(edition, surface, "failed", reason)
        self.logger.warning("discovery surface %s failed for edition %s: %s", surface, edition, reason)
        if surface == "rest" and lasting:
            self.strategies[edition] = Strategy(
                rest_root=None,
                probed_at=discovery.iso_utc(self.now),
                scope=list(self.scope(edition)),
                reason=reason,
                base_url=self.base_url,
            )
        if surface == "rest":
            self.crawler.stats.set_value(f"briefs/fallback/{edition}", reason)
            yield from self._hand_over(edition)

    def _hand_over(self, edition: str):
        """REST is out for the edition: the other surfaces together stand in for it. Not with a category
        override: it names categories, which feeds, archives and sitemaps cannot apply, and archiving the whole
        scope instead is not what was asked (the run's REST failure fails the quality gate)."""
        if self.categories:
            self.crawler.stats.set_value(f"briefs/fallback/{edition}", "none: a category override needs REST")
            return
        if self.auto and self.mode != "probe" and edition not in self.fallen_back:
            self.fallen_back.add(edition)
            for fallback in ("rss", "sitemap", "listing"):
                yield from self.surface_requests(edition, fallback)

    # ---- feeds, sitemaps, archives ------------------------------------------------------------------------
    def _lower(self, edition: str) -> datetime | None:
        return self.after if self.mode == "window" else self.since.get(edition)

    @step
    def rss_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        try:
            candidates, skipped = discovery.read_rss(response.body, self.profile, edition)
        except SurfaceError as exc:
            yield from self._fall_back(edition, "rss", str(exc))
            return
        self._mark(edition, "rss", "ok")
        self.crawler.stats.inc_value("briefs/discovery_invalid/rss", skipped)
        for candidate in candidates:
            if self.wanted(candidate, edition):
                self.add(candidate)
        oldest = min((c.published for c in candidates if c.published), default=None)
        lower = self._lower(edition)
        more = candidates and oldest and (lower is None or oldest >= lower)
        if more and self.mode != "probe" and meta["page"] < MAX_FEED_PAGES:
            page = meta["page"] + 1
            url = f"{self.base_url}{meta['path']}?paged={page}"
            yield self._discovery(url, self.rss_page, {**meta, "page": page})

    @step
    def sitemap_page(self, response):
        meta = response.meta
        try:
            kind, entries = discovery.parse_sitemap(response.body)
        except SurfaceError as exc:
            if meta.get("core"):
                yield self._discovery(meta["core"], self.sitemap_page, {**meta, "core": None})
            elif not meta.get("optional"):
                for edition in sorted(self.sitemap_editions):
                    yield from self._fall_back(edition, "sitemap", str(exc))
            return
        for edition in self.sitemap_editions:
            self._mark(edition, "sitemap", "ok")
        lowers = [self._lower(e) for e in self.sitemap_editions]
        lower = None if None in lowers else min(lowers)
        if kind == "sitemapindex":
            for loc, lastmod in entries:
                name = loc.rsplit("/", 1)[-1]
                if "sitemap" in name and "post-sitemap" not in name and "sitemap-posts-post" not in name:
                    continue  # category, page, author sitemaps list no articles (Yoast and core names)
                if loc in self.sitemap_files:
                    continue
                if not discovery.same_site(loc, self.base_url, self.host_aliases):
                    self.crawler.stats.inc_value("briefs/discovery_offsite/sitemap")
                    continue
                if len(self.sitemap_files) >= MAX_SITEMAP_FILES:
                    self.crawler.stats.inc_value("briefs/capped/sitemap_files")
                    break
                if lower is None or lastmod is None or lastmod >= lower:
                    self.sitemap_files.add(loc)
                    yield self._discovery(loc, self.sitemap_page, {**meta, "optional": False, "core": None})
                    if self.mode == "probe":
                        break
            return
        self.sitemap_entries += entries
        self._sitemap_urls(entries, self.sitemap_editions)

    def _sitemap_urls(self, entries: list, wanted: set[str]) -> None:
        """A urlset's entries as candidates of the `wanted` editions, sorted by the profile's permalink shapes."""
        for loc, lastmod in entries:
            if not discovery.same_site(loc, self.base_url, self.host_aliases):
                bad = origin_of(loc) is None
                self.crawler.stats.inc_value(f"briefs/discovery_{'invalid' if bad else 'offsite'}/sitemap")
                continue
            try:
                url = discovery.canonical_url(loc, self.base_url)
            except ValueError:
                self.crawler.stats.inc_value("briefs/discovery_invalid/sitemap")
                continue
            if not discovery.same_site(url, self.base_url, self.host_aliases):
                self.crawler.stats.inc_value("briefs/discovery_offsite/sitemap")
                continue
            edition = self.profile.edition_of(discovery.path_of(url))
            if edition is None or edition.lang not in wanted:
                continue
            candidate = Candidate(url=url, edition=edition.lang, modified=lastmod, surfaces={"sitemap"})
            if self.wanted(candidate, edition.lang, lastmod):
                self.add(candidate)

    @step
    def listing_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        candidates, next_url = discovery.parse_listing(response.body, response.url, self.profile, edition)
        self._mark(edition, "listing", "ok")
        for candidate in candidates:
            if self.wanted(candidate, edition):
                self.add(candidate)
        oldest = min((c.published for c in candidates if c.published), default=None)
        lower = self._lower(edition)
        more = next_url and candidates and (lower is None or (oldest and oldest >= lower))
        if more and self.mode != "probe" and meta["page"] < MAX_LISTING_PAGES:
            url = response.urljoin(next_url)
            if discovery.same_site(url, self.base_url, self.host_aliases):
                yield self._discovery(url, self.listing_page, {**meta, "page": meta["page"] + 1})

    # ---- candidates ---------------------------------------------------------------------------------------
    def wanted(self, candidate: Candidate, edition: str, lastmod: datetime | None = None) -> bool:
        """Whether a candidate falls in this run's window, judged on what its surface tells."""
        if self.mode in ("reconcile", "probe"):
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
        """Merge by (edition, post id), then by URL. Ids are keyed per edition: editions served by separate
        WordPress installs number their posts independently, and two posts must never merge into one."""
        key = (candidate.edition, candidate.post_id) if candidate.post_id is not None else None
        if key is not None and key not in self.found and self._id_elsewhere(candidate):
            self.crawler.stats.inc_value("briefs/post_id_collision")
            self.logger.error(
                "post id %s is listed by editions %s: separate installs share no id space (the commit refuses)",
                candidate.post_id,
                sorted({candidate.edition, *self.editions_of_id[candidate.post_id]}),
            )
        existing = self.key_by_url.get(candidate.url)
        if key is None or key not in self.found:
            key = existing if existing is not None else (key if key is not None else candidate.url)
        if key in self.found:
            self.found[key].merge(candidate)
            if isinstance(key, str) and candidate.post_id is not None:  # learnt the id: re-key by it
                merged = self.found.pop(key)
                key = (merged.edition, candidate.post_id)
                self.found[key] = merged
        else:
            self.found[key] = candidate
        if candidate.post_id is not None:
            self.editions_of_id.setdefault(candidate.post_id, set()).add(candidate.edition)
        for url in (candidate.url, *candidate.aliases):
            self.key_by_url[url] = key
        if candidate.bad_ids:  # a rejected id: the candidate goes on by URL; its fetch record will say why
            self.crawler.stats.inc_value("briefs/bad_post_id")
        for surface in candidate.surfaces:
            self.crawler.stats.inc_value(f"briefs/discovered/{surface}")
            self.crawler.stats.inc_value(f"briefs/found/{candidate.edition}/{surface}")
            if candidate.bad_ids:
                self.crawler.stats.inc_value(f"briefs/bad_post_id/{surface}")

    def _id_elsewhere(self, candidate: Candidate) -> bool:
        return bool(self.editions_of_id.get(candidate.post_id, set()) - {candidate.edition})
