"""``scrapy crawl briefs``: discover the site's briefs, then fetch each once (conditionally) into WARC.

Two phases. Discovery asks the WordPress REST API first and falls back to RSS, sitemaps and category archives
when the API is unavailable; candidates from every surface are merged by post id, then by canonical URL. When
discovery is idle, each candidate is fetched once, with ``If-None-Match``/``If-Modified-Since`` from the crawl
state, and ends as exactly one fetch record (see ``spiders.records``).

Modes: ``nightly`` (modified since the high-water mark), ``window`` (published in [after, before)) and
``reconcile`` (every post in the sitemaps; known posts missing from them are checked, so removals are seen).
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from . import discovery
from .discovery import Candidate, SurfaceError
from .records import failure_reason, fetch_record
from .site_profile import profile_for
from .state import CrawlState

MODES = ("nightly", "window", "reconcile")
SURFACES = ("rest", "rss", "sitemap", "listing")
TZ_MARGIN = timedelta(hours=14)  # REST date filters use the site's local time; widen, then filter on *_gmt


def _flag(value: str | bool | None) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _time_arg(name: str, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = discovery.parse_time(value)
    if parsed is None:
        raise ValueError(f"-a {name}={value!r} is not an ISO-8601 date or datetime")
    return parsed


def _step(callback):
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


class BriefsSpider(scrapy.Spider):
    name = "briefs"

    def __init__(
        self,
        mode: str = "nightly",
        site: str | None = None,
        editions: str = "en,es",
        since: str | None = None,
        after: str | None = None,
        before: str | None = None,
        state: str | None = None,
        surfaces: str = "auto",
        max_items: str | None = None,
        force_refetch: str = "false",
        categories: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"-a mode={mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.profile = profile_for(site)
        self.base_url = self.profile.base_url
        self.host_aliases = self.profile.host_aliases
        wanted = (
            ["en", "es"] if editions in ("both", "all") else [e.strip() for e in editions.split(",") if e]
        )
        unknown = set(wanted) - set(self.profile.editions)
        if unknown or not wanted:
            raise ValueError(f"-a editions={editions!r}: expected en, es or both")
        self.editions = wanted
        self.surfaces = SURFACES if surfaces == "auto" else tuple(s.strip() for s in surfaces.split(","))
        if set(self.surfaces) - set(SURFACES):
            raise ValueError(f"-a surfaces={surfaces!r}: expected auto or a list of {', '.join(SURFACES)}")
        self.auto = surfaces == "auto"
        self.state = CrawlState.load(state)
        self.known_by_url = self.state.by_url()
        self.max_items = int(max_items) if max_items else None
        self.force_refetch = _flag(force_refetch)
        self.categories = tuple(c for c in (categories or "").split(",") if c)
        self.after, self.before = _time_arg("after", after), _time_arg("before", before)
        if mode == "window" and not (self.after and self.before and self.after < self.before):
            raise ValueError("window mode needs -a after=... and -a before=... with after < before")
        self.since = {e: self._since(e, _time_arg("since", since)) for e in self.editions}
        self.found: dict[object, Candidate] = {}
        self.key_by_url: dict[str, object] = {}
        self.fallen_back: set[str] = set()
        self.phases = ["fetch", "verify_missing"] if mode == "reconcile" else ["fetch"]
        self.seen_ids: set[int] = set()
        self.pending = 0  # requests this spider made whose callback or errback has not finished

    def _since(self, edition: str, since: datetime | None) -> datetime | None:
        if self.mode != "nightly":
            return None
        mark = since or discovery.parse_time(self.state.high_water.get(edition))
        return mark or datetime.now(UTC) - timedelta(days=1)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_idle, signal=signals.spider_idle)
        return spider

    # ---- discovery ----------------------------------------------------------------------------------------
    async def start(self):
        first = ("sitemap",) if self.mode == "reconcile" else ("rest",) if self.auto else self.surfaces
        # Create every start request before yielding any, so the pending count cannot reach zero early.
        requests = [r for e in self.editions for surface in first for r in self.surface_requests(e, surface)]
        for request in requests:
            yield request

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
            yield self._discovery(f"{self.base_url}/sitemap_index.xml", self.sitemap_page, meta)
        elif surface == "listing":
            for path in self.profile.editions[edition].listing_paths:
                yield self._discovery(f"{self.base_url}{path}", self.listing_page, meta)

    def _discovery(self, url: str, callback, meta: dict) -> scrapy.Request:
        self.crawler.stats.inc_value(f"briefs/discovery_requests/{meta['surface']}")
        self.pending += 1
        own = {k: meta[k] for k in ("edition", "surface", "page", "path", "query") if k in meta}
        return scrapy.Request(url, callback=callback, errback=self.surface_failed, meta=own, dont_filter=True)

    @_step
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
        for surface in candidate.surfaces:
            self.crawler.stats.inc_value(f"briefs/discovered/{surface}")

    @_step
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
        lower = self._lower(meta["edition"])
        if self.mode == "nightly":
            params |= {
                "modified_after": (lower - TZ_MARGIN).strftime("%Y-%m-%dT%H:%M:%S"),
                "orderby": "modified",
                "order": "asc",
            }
        else:
            params |= {"orderby": "date", "order": "asc"}
            if self.mode == "window":
                params |= {
                    "after": (self.after - TZ_MARGIN).strftime("%Y-%m-%dT%H:%M:%S"),
                    "before": (self.before + TZ_MARGIN).strftime("%Y-%m-%dT%H:%M:%S"),
                }
        base = f"{self.base_url}/wp-json/wp/v2/posts?{urlencode(params)}"
        yield self._discovery(f"{base}&page=1", self.rest_page, {**meta, "page": 1, "query": base})

    @_step
    def rest_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        try:
            candidates, invalid = discovery.parse_rest_posts(response.body, self.profile, edition)
        except SurfaceError as exc:
            yield from self._fall_back(edition, "rest", str(exc))
            return
        self.crawler.stats.inc_value("briefs/discovery_invalid/rest", invalid)
        for candidate in candidates:
            if self.wanted(candidate, edition):
                self.add(candidate)
        total = response.headers.get("X-WP-TotalPages", b"1").decode()
        if meta["page"] == 1 and total.isdigit():
            for page in range(2, int(total) + 1):
                yield self._discovery(f"{meta['query']}&page={page}", self.rest_page, {**meta, "page": page})

    @_step
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

    @_step
    def sitemap_page(self, response):
        meta, edition = response.meta, response.meta["edition"]
        try:
            kind, entries = discovery.parse_sitemap(response.body)
        except SurfaceError as exc:
            yield from self._fall_back(edition, "sitemap", str(exc))
            return
        lower = self._lower(edition)
        if kind == "sitemapindex":
            for loc, lastmod in entries:
                if "post-sitemap" not in loc and "sitemap" in loc.rsplit("/", 1)[-1]:
                    continue  # category, page, author sitemaps list no articles
                if lower is None or lastmod is None or lastmod >= lower:
                    yield self._discovery(loc, self.sitemap_page, meta)
            return
        edition_def = self.profile.editions[edition]
        for loc, lastmod in entries:
            url = discovery.canonical_url(loc, self.base_url)
            path = discovery.path_of(url)
            if not discovery.same_site(url, self.base_url, self.host_aliases):
                self.crawler.stats.inc_value("briefs/discovery_offsite/sitemap")
                continue
            if not edition_def.article_path.match(path):
                continue
            candidate = Candidate(url=url, edition=edition, modified=lastmod, surfaces={"sitemap"})
            if self.wanted(candidate, edition, lastmod):
                self.add(candidate)

    @_step
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

    # ---- fetch --------------------------------------------------------------------------------------------
    def next_phase(self):
        """Discovery done: fetch the candidates. Reconcile then checks known posts none of those fetches found."""
        while self.phases:
            phase = self.phases.pop(0)
            if phase == "verify_missing":
                self.found = {}
                self._add_missing_known()
            requests = list(self.article_requests())
            self.crawler.stats.inc_value("briefs/candidates", len(requests))
            if requests:
                yield from requests
                return

    def on_idle(self):
        """Safety net: should a callback fail before counting itself done, idleness still moves phases on."""
        requests = list(self.next_phase())
        for request in requests:
            self.crawler.engine.crawl(request)
        if requests:
            raise DontCloseSpider

    def article_requests(self):
        candidates = sorted(
            self.found.values(),
            key=lambda c: (c.published or c.modified or datetime.min.replace(tzinfo=UTC), c.post_id or 0),
        )
        if self.max_items is not None:
            candidates = candidates[-self.max_items :] if self.max_items else []
        for candidate in candidates:
            known = self.state.posts.get(candidate.post_id) or self.known_by_url.get(candidate.url)
            if self._unchanged_since_known(candidate, known):
                self.seen_ids.add(known.post_id)
                self.crawler.stats.inc_value("briefs/reconcile/unchanged")
                continue
            headers = {}
            if known and not self.force_refetch:
                if known.etag:
                    headers["If-None-Match"] = known.etag
                if known.last_modified:
                    headers["If-Modified-Since"] = known.last_modified
            self.pending += 1
            yield scrapy.Request(
                candidate.url,
                callback=self.parse_article,
                errback=self.article_failed,
                headers=headers,
                dont_filter=True,
                meta={"candidate": candidate, "known": known, "handle_httpstatus_list": [304, 404, 410]},
            )

    def _unchanged_since_known(self, candidate: Candidate, known) -> bool:
        """Reconcile skips posts whose sitemap lastmod is not newer than what the state already holds."""
        if self.mode != "reconcile" or self.force_refetch or not known or "state" in candidate.surfaces:
            return False
        known_modified = discovery.parse_time(known.modified)
        return bool(known_modified and candidate.modified and candidate.modified <= known_modified)

    def _add_missing_known(self) -> None:
        """Known live posts no longer in the sitemaps: fetch their last URL to see whether they are gone."""
        for post in self.state.posts.values():
            if post.gone or post.edition not in self.editions:
                continue
            if post.post_id in self.seen_ids or any(
                url in self.key_by_url for url in (post.url, *post.aliases)
            ):
                continue
            self.crawler.stats.inc_value("briefs/reconcile/missing_from_sitemaps")
            self.add(Candidate(url=post.url, edition=post.edition, post_id=post.post_id, surfaces={"state"}))

    @_step
    def parse_article(self, response):
        candidate = response.meta["candidate"]
        record = fetch_record(response, candidate, response.meta.get("known"), self.base_url)
        if (
            self.mode == "window"
            and record["status"] in ("fetched", "redirected")
            and not candidate.published
        ):
            published = discovery.parse_time(record.get("published"))
            if published and not self.after <= published < self.before:
                self.crawler.stats.inc_value("briefs/out_of_window")
                return
        known = self.state.posts.get(record["post_id"])
        if known and response.meta.get("known") is None:  # reached by a new URL: the known ones are aliases
            record["aliases"] = sorted({known.url, *known.aliases, *record["aliases"]} - {record["url"]})
        self._count(record)
        if record["post_id"] is not None:
            self.seen_ids.add(record["post_id"])
        yield record

    @_step
    def article_failed(self, failure):
        request = failure.request
        record = fetch_record(
            None,
            request.meta["candidate"],
            request.meta.get("known"),
            self.base_url,
            reason=failure_reason(failure),
            request=request,
        )
        self._count(record)
        yield record

    def _count(self, record: dict) -> None:
        self.crawler.stats.inc_value(f"briefs/fetch/{record['status']}")
        for problem in record.get("problems", []):
            self.crawler.stats.inc_value(f"briefs/problems/{problem.split(':')[0]}")
