"""Downloader middlewares for a polite crawler that stays on its site.

- ``SiteGuardMiddleware`` refuses any request (first, redirect or robots.txt) not for the configured origin, so a
  link or redirect to another host or port is never contacted, even for robots.txt.
- ``PoliteRetryMiddleware`` extends Scrapy's retries, which fire immediately, with waiting: ``Retry-After`` on
  429/503 (pausing the whole host, not just the one request) and exponential backoff otherwise.
"""

from __future__ import annotations

import asyncio
import time
from email.utils import parsedate_to_datetime

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.httpobj import urlparse_cached

from .urls import same_site


class OffsiteRefused(IgnoreRequest):
    """A request for another host or port than the configured site."""


class SiteGuardMiddleware:
    def __init__(self, crawler):
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        spider = self.crawler.spider
        base = getattr(spider, "base_url", None)
        if base and not same_site(request.url, base, getattr(spider, "host_aliases", ())):
            self.crawler.stats.inc_value("briefs/offsite_refused")
            raise OffsiteRefused(f"offsite request refused: {request.url} is not on {base}")


def retry_after_seconds(value: bytes | str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - (now or time.time()))
    except (TypeError, ValueError, IndexError):
        return None


class PoliteRetryMiddleware(RetryMiddleware):
    def __init__(self, settings):
        super().__init__(settings)
        self.backoff_base = settings.getfloat("RETRY_BACKOFF_BASE", 0.5)
        self.backoff_max = settings.getfloat("RETRY_BACKOFF_MAX", 30.0)
        self.retry_after_max = settings.getfloat("RETRY_AFTER_MAX", 300.0)
        self.hold_until: dict[str, float] = {}

    def _host(self, request: Request) -> str:
        return urlparse_cached(request).netloc

    def _backoff(self, request: Request) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** request.meta.get("retry_times", 0))

    async def process_request(self, request: Request) -> None:
        """Hold every request to a host the server asked us to leave alone for a while."""
        while (wait := self.hold_until.get(self._host(request), 0.0) - time.monotonic()) > 0:
            await asyncio.sleep(wait)

    async def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.get("dont_retry") or response.status not in self.retry_http_codes:
            return response
        if request.meta.get("retry_times", 0) >= request.meta.get("max_retry_times", self.max_retry_times):
            return super().process_response(request, response)  # gives up, logs, counts
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if asked is not None:
            if asked > self.retry_after_max:
                self.crawler.stats.inc_value("briefs/retry_after_too_long")
                return response  # fails with its status rather than stalling the run
            host = self._host(request)
            self.hold_until[host] = max(self.hold_until.get(host, 0.0), time.monotonic() + asked)
            self.crawler.stats.inc_value("briefs/retry_after_honoured")
        await asyncio.sleep(asked if asked is not None else self._backoff(request))
        return super().process_response(request, response)

    async def process_exception(self, request: Request, exception: Exception) -> Request | Response | None:
        if isinstance(exception, self.exceptions_to_retry) and not request.meta.get("dont_retry"):
            await asyncio.sleep(self._backoff(request))
        return super().process_exception(request, exception)
