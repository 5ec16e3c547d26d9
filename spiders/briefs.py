"""``scrapy crawl briefs``: discover the site's briefs, then fetch each once (conditionally) into WARC.

Two phases. Discovery asks the WordPress REST API first and falls back to RSS, sitemaps and category archives
when the API is unavailable; candidates from every surface are merged by post id, then by canonical URL. When
discovery is idle, each candidate is fetched once, with ``If-None-Match``/``If-Modified-Since`` from the crawl
state, and ends as exactly one fetch record (see ``spiders.records``).

Modes: ``nightly`` (modified since the high-water mark), ``window`` (published in [after, before)),
``reconcile`` (every post in the sitemaps; known posts missing from them are checked, so removals are seen) and
``probe`` (every surface of every edition, first page only, REST strategy probed afresh, then the newest brief of
each edition fetched as a sample: what ``briefs probe`` reports on).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from . import discovery
from .discovery import Candidate
from .records import failure_reason, fetch_record, safe_fetch_record
from .rest import RestMixin
from .sites import DEFAULT_PROFILE, load_profile
from .state import CrawlState
from .surfaces import SURFACES, SurfacesMixin, step

MODES = ("nightly", "window", "reconcile", "probe")


def _flag(value: str | bool | None) -> bool:
    return str(value).lower() in ("1", "true", "yes", "on")


def _time_arg(name: str, value: str | None) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = discovery.parse_time(value)
    if parsed is None:
        raise ValueError(f"-a {name}={value!r} is not an ISO-8601 date or datetime")
    return parsed


class BriefsSpider(SurfacesMixin, RestMixin, scrapy.Spider):
    name = "briefs"

    def __init__(
        self,
        mode: str = "nightly",
        profile: str = DEFAULT_PROFILE,
        site: str | None = None,
        editions: str = "all",
        since: str | None = None,
        after: str | None = None,
        before: str | None = None,
        state: str | None = None,
        surfaces: str = "auto",
        max_items: str | None = None,
        force_refetch: str = "false",
        categories: str | None = None,
        include_modified: str = "false",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"-a mode={mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.profile = load_profile(profile, site)
        self.base_url = self.profile.base_url
        self.host_aliases = self.profile.host_aliases
        wanted = (
            list(self.profile.editions)
            if editions in ("both", "all")
            else [e.strip() for e in editions.split(",") if e]
        )
        unknown = set(wanted) - set(self.profile.editions)
        if unknown or not wanted:
            choices = ", ".join(self.profile.editions)
            raise ValueError(f"-a editions={editions!r}: expected all or a list of {choices}")
        self.editions = wanted
        self.surfaces = SURFACES if surfaces == "auto" else tuple(s.strip() for s in surfaces.split(","))
        if set(self.surfaces) - set(SURFACES):
            raise ValueError(f"-a surfaces={surfaces!r}: expected auto or a list of {', '.join(SURFACES)}")
        self.auto = surfaces == "auto"
        self.state = CrawlState.load(state)
        self.known_by_url = self.state.by_url()
        self.max_items = int(max_items) if max_items else None
        self.force_refetch = _flag(force_refetch)
        self.include_modified = _flag(include_modified)  # window: published *or modified* in it
        self.categories = tuple(c.strip() for c in (categories or "").split(",") if c.strip())
        if self.categories and mode == "reconcile":
            raise ValueError("-a categories=...: a reconcile lists every post through the sitemaps, by URL")
        self.after, self.before = _time_arg("after", after), _time_arg("before", before)
        if mode == "window" and not (self.after and self.before and self.after < self.before):
            raise ValueError("window mode needs -a after=... and -a before=... with after < before")
        self.since = {e: self._since(e, _time_arg("since", since)) for e in self.editions}
        self.found: dict[object, Candidate] = {}
        self.key_by_url: dict[str, object] = {}
        self.editions_of_id: dict[int, set[str]] = {}
        self.fallen_back: set[str] = set()
        self.phases = ["fetch", "verify_missing"] if mode == "reconcile" else ["fetch"]
        self.seen_ids: set[int] = set()
        self.sitemap_editions: set[str] = set()
        self.sitemap_files: set[str] = set()
        self.sitemap_entries: list = []  # every urlset entry read: replayed for an edition that falls back later
        self.now = datetime.now(UTC)
        self.strategies: dict = {}  # edition -> editions.Strategy used (or found failing) in this run
        self.surface_status: dict[tuple[str, str], tuple[str, str | None]] = {}
        self.paging: dict[str, dict] = {}  # edition -> REST paging headers of its first page
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
        if self.mode == "probe":
            first = SURFACES
        elif self.mode == "reconcile":
            first = ("sitemap",)
        else:
            first = ("rest",) if self.auto else self.surfaces
        # Create every start request before yielding any, so the pending count cannot reach zero early.
        requests = [r for e in self.editions for surface in first for r in self.surface_requests(e, surface)]
        for request in requests:
            yield request

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
        if self.mode == "probe":  # the newest brief of each edition is the sample
            newest = {c.edition: c for c in candidates}
            candidates = [newest[e] for e in self.editions if e in newest]
        if self.max_items is not None:
            candidates = candidates[-self.max_items :] if self.max_items else []
        for candidate in candidates:
            self.crawler.stats.inc_value(f"briefs/candidates_by_edition/{candidate.edition}")
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

    @step
    def parse_article(self, response):
        candidate = response.meta["candidate"]
        record = safe_fetch_record(
            response, candidate, response.meta.get("known"), self.base_url, base_seq=self.state.base_seq
        )
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

    @step
    def article_failed(self, failure):
        request = failure.request
        record = fetch_record(
            None,
            request.meta["candidate"],
            request.meta.get("known"),
            self.base_url,
            reason=failure_reason(failure),
            request=request,
            base_seq=self.state.base_seq,
        )
        self._count(record)
        yield record

    def _count(self, record: dict) -> None:
        self.crawler.stats.inc_value(f"briefs/fetch/{record['status']}")
        for problem in record.get("problems", []):
            self.crawler.stats.inc_value(f"briefs/problems/{problem.split(':')[0]}")
