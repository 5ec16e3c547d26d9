"""The REST API surface of the briefs spider: the edition's strategy (``spiders.editions``), then its posts.

Every run lists the categories of the install that worked last time (one request; a new subcategory is in scope
the same night), so only the install search is cached. Posts are read by id order, page after page: an edit
during the crawl moves no post across pages. Paging is bounded by the headers, a hard cap and the first short,
empty or refused page.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from urllib.parse import urlencode

from . import discovery, editions
from .discovery import SurfaceError
from .editions import Strategy
from .records import failure_reason, lasting_failure
from .surfaces import step

TZ_MARGIN = timedelta(hours=14)  # REST date filters use the site's local time; widen, then filter on *_gmt
PER_PAGE = 100
MAX_REST_PAGES = 1000  # 100,000 posts per query


class RestMixin:
    """REST discovery of ``BriefsSpider``; failures hand over through ``_fall_back`` (``SurfacesMixin``)."""

    def scope(self, edition: str) -> tuple[str, ...]:
        return self.categories or self.profile.editions[edition].scope

    def rest_start(self, edition: str):
        """REST skipped while it is known to fail; else the categories of the install that worked (or all)."""
        cached = self.state.strategies.get(edition)
        usable = cached is not None and cached.usable(self.now, list(self.scope(edition)), self.base_url)
        if self.mode != "probe" and usable and cached.rest_root is None:
            self.strategies[edition] = cached
            self.crawler.stats.inc_value("briefs/rest_skipped_known_failing")
            self._mark(edition, "rest", "skipped", cached.reason)
            yield from self._hand_over(edition)
            return
        first = cached.rest_root if self.mode != "probe" and usable else None
        roots = editions.rest_roots(self.profile.editions[edition], first)
        yield from self._list_categories(edition, roots, 1, [], transient=False)

    def _list_categories(self, edition: str, roots: list[str], page: int, terms: list, transient: bool):
        root = roots[0]
        query = {"per_page": PER_PAGE, "page": page, "_fields": "id,slug,parent,lang"}
        if root == "":
            query["lang"] = edition  # a multilingual install filters by it; vanilla WordPress ignores it
        yield self._discovery(
            f"{self.base_url}{root}/wp-json/wp/v2/categories?{urlencode(query)}",
            self.rest_categories,
            {"edition": edition, "surface": "rest"},
            cb_kwargs={"roots": roots, "page": page, "terms": terms, "transient": transient},
            errback=self.rest_probe_failed,
        )

    @step
    def rest_probe_failed(self, failure):
        """This install does not answer: try the edition's next one, else REST has failed for the edition. The
        failure is lasting only if every install refused lastingly."""
        edition, kwargs = failure.request.meta["edition"], failure.request.cb_kwargs
        transient = kwargs["transient"] or not lasting_failure(failure)
        yield from self._next_install(edition, kwargs["roots"], transient, failure_reason(failure))

    def _next_install(self, edition: str, roots: list[str], transient: bool, reason: str):
        if len(roots) > 1:
            yield from self._list_categories(edition, roots[1:], 1, [], transient)
        else:
            yield from self._fall_back(edition, "rest", reason, lasting=not transient)

    @step
    def rest_categories(self, response, roots: list[str], page: int, terms: list, transient: bool):
        edition = response.meta["edition"]
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, list):
            terms = terms + data
            pages = _header_int(response, "X-WP-TotalPages") or 1
            if page < pages and page >= editions.MAX_CATEGORY_PAGES:
                self.crawler.stats.inc_value("briefs/capped/rest_category_pages")
            elif page < pages:
                yield from self._list_categories(edition, roots, page + 1, terms, transient)
                return
        wanted = list(self.scope(edition))
        found = editions.scope_ids(terms, wanted)
        missing = [slug for slug in wanted if slug not in found]
        if found and not missing:
            strategy = Strategy(
                rest_root=roots[0],
                lang=any(isinstance(t, dict) and "lang" in t for t in terms),
                categories=found,
                probed_at=discovery.iso_utc(self.now),
                scope=wanted,
                base_url=self.base_url,
            )
            self.strategies[edition] = strategy
            yield from self.rest_posts(edition, strategy)
            return
        reason = f"scope categories {', '.join(missing)} not found in REST ({roots[0]}/wp-json/)"
        if found:  # a scope that resolves only in part would archive part of it: never accepted
            reason = (
                f"only part of the scope found in REST ({roots[0]}/wp-json/): {', '.join(missing)} missing"
            )
        yield from self._next_install(edition, roots, transient, reason)

    def rest_posts(self, edition: str, strategy: Strategy):
        params = {
            "categories": ",".join(map(str, strategy.ids)),
            "per_page": PER_PAGE,
            "_fields": discovery.REST_FIELDS,
            "_embed": discovery.REST_EMBED,
        }
        if strategy.rest_root == "":
            params["lang"] = edition
        for query in self._rest_filters(edition):
            base = f"{self.base_url}{strategy.rest_root}/wp-json/wp/v2/posts?{urlencode(params | query)}"
            yield self._discovery(
                f"{base}&page=1",
                self.rest_page,
                {"edition": edition, "surface": "rest", "page": 1, "query": base},
                cb_kwargs={"pages": None},
            )

    def _rest_filters(self, edition: str) -> list[dict]:
        """The REST date filters of this run (one query each), widened by TZ_MARGIN and refined on *_gmt.

        Published and modified are asked separately: a scheduled post goes live without a new ``modified``.
        """

        def wp(value: datetime) -> str:
            return value.strftime("%Y-%m-%dT%H:%M:%S")

        by_id = {"orderby": "id", "order": "asc"}
        if self.mode == "probe":
            return [{"orderby": "date", "order": "desc"}]
        if self.mode == "nightly":
            lower = wp(self._lower(edition) - TZ_MARGIN)
            return [{"modified_after": lower, **by_id}, {"after": lower, **by_id}]
        if self.mode != "window":
            return [by_id]
        published = {"after": wp(self.after - TZ_MARGIN), "before": wp(self.before + TZ_MARGIN), **by_id}
        if not self.include_modified:
            return [published]
        modified = {
            "modified_after": wp(self.after - TZ_MARGIN),
            "modified_before": wp(self.before + TZ_MARGIN),
            **by_id,
        }
        return [published, modified]

    @step
    def rest_page(self, response, pages: int | None):
        meta, edition = response.meta, response.meta["edition"]
        strategy = self.strategies[edition]
        try:
            page = discovery.read_rest_page(response.body, self.profile, edition, set(strategy.ids))
        except SurfaceError as exc:
            yield from self._rest_failed(edition, str(exc), meta["page"], lasting=True)
            return
        self._mark(edition, "rest", "ok")
        self.crawler.stats.inc_value("briefs/discovery_invalid/rest", page.invalid)
        for reason, count in page.skipped.items():
            self.crawler.stats.inc_value(f"briefs/skipped/rest/{reason}", count)
        if page.users_refused:
            self.crawler.stats.inc_value("briefs/rest_users_refused", page.users_refused)
        for candidate in page.candidates + page.unidentified:
            if self.wanted(candidate, edition):
                self.add(candidate)
        if pages is None:
            pages = self._rest_pages(response, edition)
        if page.items < PER_PAGE or self.mode == "probe":
            return  # a short page is the last one, whatever the headers say
        if meta["page"] >= pages:
            if pages == MAX_REST_PAGES:
                self.crawler.stats.inc_value("briefs/capped/rest_pages")
            return
        number = meta["page"] + 1
        yield self._discovery(
            f"{meta['query']}&page={number}", self.rest_page, {**meta, "page": number}, {"pages": pages}
        )

    def _rest_pages(self, response, edition: str) -> int:
        """Pages to read: ``X-WP-TotalPages``, never more than ``ceil(X-WP-Total / per_page)``, nor the cap.
        Without the headers (stripped by a proxy), pages are read until a short one, up to the cap."""
        pages, total = _header_int(response, "X-WP-TotalPages"), _header_int(response, "X-WP-Total")
        self.paging[edition] = {"total": total, "pages": pages}
        if pages is None and total is None:
            self.crawler.stats.inc_value("briefs/rest_paging_headers_missing")
            return MAX_REST_PAGES
        bounds = [MAX_REST_PAGES]
        if pages is not None:
            bounds.append(max(1, pages))
        if total is not None:
            bounds.append(max(1, math.ceil(total / PER_PAGE)))
        return min(bounds)

    def _rest_failed(self, edition: str, reason: str, page: int, lasting: bool):
        """A posts query failed: past page 1 with a 400, the listing shrank (stop); a cached strategy is
        probed again at once; a fresh one falls back."""
        cached = self.state.strategies.get(edition)
        if page == 1 and cached is not None and cached.rest_root is not None:
            self.state.strategies.pop(edition)
            self.crawler.stats.inc_value("briefs/rest_reprobed")
            yield from self._list_categories(
                edition, editions.rest_roots(self.profile.editions[edition]), 1, [], False
            )
            return
        yield from self._fall_back(edition, "rest", reason, lasting)


def _header_int(response, name: str) -> int | None:
    raw = (response.headers.get(name) or b"").decode("latin-1").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else None
