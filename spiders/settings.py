"""Scrapy settings of the briefs crawler: polite by default, bounded, and confined to the configured site.

Every value can be overridden with ``-s NAME=VALUE``; ``spiders.runner`` sets the output paths per run.
"""

BOT_NAME = "insight-briefs"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"

CONTACT_URL = "https://github.com/insight-briefs/insight-briefs"
USER_AGENT = f"insight-briefs/0.1 (web archive of news briefs; +{CONTACT_URL})"

# Politeness: robots.txt, AutoThrottle, two requests at a time per site, Retry-After and backoff on errors.
ROBOTSTXT_OBEY = True
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0
CONCURRENT_REQUESTS = 16
# Each response yields at most one record through a synchronous pipeline: Scrapy's default of 100 would start
# ~100 asyncio tasks per response for nothing (a third of the crawler's CPU).
CONCURRENT_ITEMS = 1
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 0.5
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [500, 502, 503, 504, 522, 524, 408, 429]
RETRY_BACKOFF_BASE = 0.5  # seconds, doubled per retry
RETRY_BACKOFF_MAX = 30.0
RETRY_AFTER_MAX = 300.0  # a longer Retry-After fails the item instead of stalling the night
REDIRECT_MAX_TIMES = 5

# Bounds: nothing can grow without limit.
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 16 * 1024 * 1024
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
DOWNLOAD_FAIL_ON_DATALOSS = True
COOKIES_ENABLED = False

# No remote control surfaces.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
EXTENSIONS = {
    "scrapy.extensions.telnet.TelnetConsole": None,
    "scrapy.extensions.remote_control.RemoteControl": None,
    "spiders.output.StatsWriter": 900,
    "spiders.runtime.LeanRuntime": 0,
}
# Collector thresholds once start-up is frozen (spiders.runtime); empty keeps Python's defaults.
GC_THRESHOLD = [10_000, 10, 10]

DOWNLOADER_MIDDLEWARES = {
    # Before robots.txt (100), so that not even robots.txt is requested from another host.
    "spiders.middlewares.SiteGuardMiddleware": 50,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "spiders.middlewares.PoliteRetryMiddleware": 550,
    # Next to the downloader: sees final request headers and raw responses, redirects and retries included.
    "spiders.warc.WarcCaptureMiddleware": 950,
}
ITEM_PIPELINES = {"spiders.output.RecordWriter": 300}

BRIEFS_OUT = "crawl-out"
WARC_DIR = "crawl-out/warc"
WARC_PREFIX = "briefs"
WARC_MAX_BYTES = 1024**3

LOG_LEVEL = "INFO"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
FEED_EXPORT_ENCODING = "utf-8"
