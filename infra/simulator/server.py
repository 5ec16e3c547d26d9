"""The simulator's HTTP server: routing, conditional GETs, burst rate limiting, switchable faults, a request log.

Runs in a background thread (pytest fixture) or in the foreground (``python -m infra.simulator serve``). A
second tiny server on another 127.0.0.1 port is the *trap*: links to it appear on pages and in a sitemap, and a
correct crawler never requests it.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import socket
import threading
import time
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import pages, rest, surfaces
from .clock import Clock, Journal
from .faults import FAULT_KINDS, Fault, Hit, RateLimit, apply_fault
from .faults import send as _send
from .site import Post, Site

HTML = "text/html; charset=UTF-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # listen() backlog, applied in __init__: the default of 5 drops SYNs when a crawler opens 16 connections at
    # once, and the client's SYN retransmits (1 s, 3 s, 7 s ...) look like a slow site.
    request_queue_size = 1024


class TrapServer(_Server):
    """Counts every request: a crawler that stays on its site never reaches it."""

    def __init__(self):
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"no")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


class Simulator:
    """A running simulated site. ``base`` is its origin; ``site`` its data and ground truth.

    ``wordpress="multilingual"``: one install, Polylang-like (``lang`` parameter, ``lang``/``translations``
    fields). ``wordpress="vanilla"``: plain WordPress, each language other than the first a separate install
    under ``/<lang>/`` (its own REST API, feeds, archives and sitemaps).
    """

    def __init__(
        self,
        site: Site,
        port: int = 0,
        trap: bool = True,
        wordpress: str = "multilingual",
        clock: Clock | None = None,
    ):
        self.site = site
        # Every advance by HTTP goes through the clock (and its journal, when it has a file).
        self.clock = clock or Clock(site, Journal(site.now, site.now, {}))
        self.wordpress = wordpress
        self.installs = rest.installs(site, wordpress)
        self.faults: list[Fault] = []
        self.api_status: int | None = None  # e.g. 403 or 503: the REST API is unavailable
        self.users_refused = False  # /wp/v2/users/<id> answers 401 too (and embedded authors are 401 errors)
        self.rest_total_pages: str | None = None  # replaces X-WP-TotalPages on posts responses
        self.rest_overrides: dict[int, dict] = {}  # post id -> fields replaced in its REST JSON
        self.sitemaps = "yoast"  # or "core": WordPress's own wp-sitemap.xml, as on a site without Yoast
        self.rate_limit: RateLimit | None = None
        self.robots_disallow: list[str] = []  # extra robots.txt rules, for tests
        self.log: list[Hit] = []
        self._log_lock = threading.Lock()
        self.trap = TrapServer() if trap else None
        self.httpd = _Server(("127.0.0.1", port), _handler_for(self))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.trap_url = f"http://127.0.0.1:{self.trap.server_address[1]}/trap/" if self.trap else None
        self._threads: list[threading.Thread] = []

    # ---- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> Simulator:
        for server in filter(None, (self.httpd, self.trap)):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self.clock.stop()
        for server in filter(None, (self.httpd, self.trap)):
            server.shutdown()
            server.server_close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- test controls ------------------------------------------------------------------------------------
    def inject(
        self, target: str | Post, kind: str, arg: float | int | tuple | None = None, times: int | None = None
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        pattern = "^" + re.escape(target.path) + "$" if isinstance(target, Post) else target
        self.faults.append(Fault(pattern, kind, arg, times))

    def storm(
        self,
        seed: int = 1,
        unavailable: float = 0.3,
        slow: float = 0.05,
        reset: float = 0.05,
        burst: RateLimit | None = None,
    ) -> None:
        """Weather for a whole crawl: a share of 503s (with Retry-After), slow answers, resets, 429 bursts."""
        everything = r"^/(?!robots\.txt)"
        self.faults += [
            Fault(everything, "status", 503, probability=unavailable, rng=random.Random(seed)),
            Fault(everything, "slow", 0.3, probability=slow, rng=random.Random(seed + 1)),
            Fault(everything, "reset", probability=reset, rng=random.Random(seed + 2)),
        ]
        self.rate_limit = burst

    def clear_faults(self) -> None:
        self.faults.clear()
        self.api_status = None
        self.rate_limit = None

    def hits(self, pattern: str = "") -> list[Hit]:
        with self._log_lock:
            return [h for h in self.log if re.search(pattern, h.target)]

    def served_responses(self) -> int:
        """Complete HTTP responses sent: what a WARC capture of the crawl must hold."""
        with self._log_lock:
            return sum(h.complete for h in self.log)

    def url(self, post: Post) -> str:
        return self.base + post.path

    def install(self, lang: str) -> rest.Install:
        """The WordPress install holding ``lang``'s posts."""
        return next(i for i in self.installs if lang in i.langs)

    def rest_url(self, lang: str = "en") -> str:
        """Root of the REST API that serves ``lang``: ``<base>/wp-json`` or (vanilla) ``<base>/es/wp-json``."""
        return self.install(lang).url(self.base) + "/wp-json"

    def _split(self, path: str) -> tuple[rest.Install, str]:
        """The install a path belongs to and the path inside it."""
        for inst in self.installs[1:]:
            if path.startswith(inst.prefix + "/"):
                return inst, path[len(inst.prefix) :]
        return self.installs[0], path

    # ---- routing ------------------------------------------------------------------------------------------
    def route(self, target: str) -> tuple[int, dict, bytes]:
        split = urlsplit(target)
        path, query = split.path, split.query
        base, site = self.base, self.site
        if path == "/robots.txt":
            return surfaces.robots(base, self.robots_disallow)
        if path == "/__sim__/clock":
            return 200, {"Content-Type": "application/json"}, json.dumps(self.clock.state()).encode()
        inst, sub = self._split(path)
        if sub.startswith("/wp-json/"):
            if self.api_status:
                return rest.error("rest_forbidden", "REST API disabled.", self.api_status)
            switches = rest.Switches(self.users_refused, self.rest_total_pages, self.rest_overrides)
            return rest.route(site, inst, sub[len("/wp-json") :], query, base, switches)
        # Polylang serves the other languages' feeds and archives of the one install under /<lang>/.
        lang, local = inst.lang, sub
        head = sub.split("/")[1] if sub.count("/") > 1 else ""
        if inst.multilingual and head in inst.langs[1:]:
            lang, local = head, sub[len(head) + 1 :]
        if local == "/feed/":
            return surfaces.rss(site, base, inst, lang, None, query)
        if local.endswith("/feed/") and (cat := surfaces.category_of(site, path[: -len("feed/")])):
            return surfaces.rss(site, base, inst, cat[0], cat[1], query)
        core = self.sitemaps == "core"
        if sub == ("/wp-sitemap.xml" if core else "/sitemap_index.xml"):
            return surfaces.sitemap_index(site, base, inst, core)
        if match := re.fullmatch(
            r"/wp-sitemap-posts-post-(\d+)\.xml" if core else r"/post-sitemap(\d*)\.xml", sub
        ):
            return surfaces.sitemap(
                site, base, inst, int(match.group(1) or 1), self.trap_url if not inst.prefix else None
            )
        if sub == "/category-sitemap.xml":
            return surfaces.category_sitemap(site, base, inst)
        if sub == "/" and query.startswith("p="):
            post = site.posts.get(int(query[2:]) if query[2:].isdigit() else -1)
            # The root answers any post id (shortlinks on pages are root-relative); /es/?p= only its own.
            if post and post.gone is None and (not inst.prefix or post.lang in inst.langs):
                return 301, {"Location": base + post.path}, b""
        if match := re.fullmatch(r"(.*?/)page/(\d+)/", path):
            cat_path, number = match.group(1), int(match.group(2))
        else:
            cat_path, number = path, 1
        if (cat := surfaces.category_of(site, cat_path)) and cat[0] in self._split(cat_path)[0].langs:
            return self._listing(cat[0], cat[1], cat_path, number)
        if match := re.fullmatch(r"/news-briefs/([^/]+)/?", path):
            post = next((p for p in site.posts.values() if p.slug == match.group(1)), None)
            if post:
                return 301, {"Location": base + post.path}, b""
        return self._article(path)

    def _listing(self, lang: str, slug: str, path: str, number: int) -> tuple[int, dict, bytes]:
        """A category archive: the category's posts and its descendants', newest first."""
        wanted = self.site.descendants(slug)
        posts = [
            p
            for p in reversed(self.site.ordered)
            if p.gone is None and p.lang == lang and p.category in wanted
        ]
        total = max(1, -(-len(posts) // 10))
        if number > total:
            return surfaces.NOT_FOUND
        chunk = posts[(number - 1) * 10 : number * 10]
        name = self.site.category(slug).name
        html = pages.listing_page(self.site, chunk, self.base, name, number, total, path)
        return 200, {"Content-Type": HTML}, html.encode()

    def _article(self, path: str) -> tuple[int, dict, bytes]:
        post = self.site.by_path.get(path)
        if post is None:
            return 404, {"Content-Type": HTML}, b"<html><body><h1>Page not found</h1></body></html>"
        if post.gone is not None:
            return post.gone, {"Content-Type": HTML}, b"<html><body><h1>Gone</h1></body></html>"
        if path != post.path:
            return 301, {"Location": self.base + post.path}, b""
        headers = {
            "Content-Type": HTML,
            "ETag": post.etag,
            "Last-Modified": format_datetime(post.modified, True),
            "Link": f"<{self.install(post.lang).url(self.base)}/?p={post.id}>; rel=shortlink",
        }
        return 200, headers, pages.article_page(self.site, post, self.base, self.trap_url).encode()

    def respond(self, handler: BaseHTTPRequestHandler) -> Hit:
        """Answer one request, applying rate limit, faults and conditional GET."""
        target = handler.path
        now = time.time()
        if self.rate_limit and not target.startswith("/robots.txt"):
            with self._log_lock:
                admitted = self.rate_limit.admit(now)
            if not admitted:
                retry = str(self.rate_limit.retry_after)
                return _send(handler, 429, {"Retry-After": retry, "Content-Type": HTML}, b"Too Many Requests")
        fault = next((f for f in self.faults if f.take(urlsplit(target).path)), None)
        if fault and fault.kind == "slow":
            time.sleep(float(fault.arg or 1))
            fault = None
        with self.site.lock:
            status, headers, body = self.route(target)
        if fault:
            return apply_fault(handler, fault, self, status, headers, body)
        if status == 200 and "ETag" in headers:
            inm = handler.headers.get("If-None-Match")
            ims = handler.headers.get("If-Modified-Since")
            if inm == headers["ETag"] or (not inm and ims and _not_after(headers["Last-Modified"], ims)):
                return _send(handler, 304, {k: headers[k] for k in ("ETag", "Last-Modified")}, b"")
        return _send(handler, status, headers, body)


def _not_after(last_modified: str, since: str) -> bool:
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


def _handler_for(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def version_string(self) -> str:
            return "nginx"

        def setup(self):
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self):
            started = time.time()
            try:
                hit = sim.respond(self)
            except (BrokenPipeError, ConnectionResetError):
                hit = Hit(time.time(), self.command, self.path, 0, 0, {}, complete=False)
            hit.at = started
            hit.headers = {
                k: v
                for k, v in self.headers.items()
                if k in ("User-Agent", "If-None-Match", "If-Modified-Since")
            }
            with sim._log_lock:
                sim.log.append(hit)

        do_HEAD = do_GET

        def do_POST(self):
            """``POST /__sim__/advance?hours=24&new=5&edited=2&renamed=1&removed=1``: move the clock by hand
            (journaled, like every advance of the clock)."""
            split = urlsplit(self.path)
            if split.path != "/__sim__/advance":
                _send(self, 404, {"Content-Type": HTML}, b"")
                return
            args = {
                k: float(v[0]) if k == "hours" else int(v[0])
                for k, v in parse_qs(split.query).items()
                if k in ("hours", "new", "edited", "renamed", "removed")
            }
            change = sim.clock.advance(**args)
            body = json.dumps(dataclasses.asdict(change), default=str).encode()
            _send(self, 200, {"Content-Type": "application/json"}, body)

        def log_message(self, *args):
            pass

    return Handler
