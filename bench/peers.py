"""This project's crawler against its peers on the same simulator process and the same article URLs.

    uv run python bench/peers.py [--posts 3000] [--reps 3]

Peers: plain Scrapy (no WARC), plain Scrapy with a minimal warcio middleware, and a raw asyncio client
(aiohttp): the simulator's practical limit. Each crawler runs in its own process with the same concurrency
(16 connections to the site, politeness off); repetitions are interleaved so that load drifts hit all alike.
Prints one JSON line: per crawler the medians of pages/s (wall time including start-up, as bench/crawl.py
counts), CPU ms per page (the crawler process's user + system time) and peak RSS, and each ratio to Scrapy +
warcio. ``--run NAME`` is the peer's own entry point (one crawl; used by the driver).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra.seaweedfs import free_port_block  # noqa: E402
from spiders.runner import CrawlJob  # noqa: E402

CONNECTIONS = 16  # per site, as spiders.runner sets it with politeness off
CRAWLERS = ("this project", "scrapy", "scrapy+warcio", "asyncio")


# ---- the peers, run with --run --------------------------------------------------------------------------------
def scrapy_peer(urls: list[str], out: Path, warc: bool) -> int:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    class PlainSpider(scrapy.Spider):
        name = "plain"

        async def start(self):
            for url in urls:
                yield scrapy.Request(url, dont_filter=True)

        def parse(self, response):
            yield {"url": response.url, "status": response.status, "title": response.css("title::text").get()}

    settings = {
        "ROBOTSTXT_OBEY": False,
        "CONCURRENT_REQUESTS": 2 * CONNECTIONS,
        "CONCURRENT_REQUESTS_PER_DOMAIN": CONNECTIONS,
        "DOWNLOAD_DELAY": 0,
        "AUTOTHROTTLE_ENABLED": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
    }
    if warc:
        settings["DOWNLOADER_MIDDLEWARES"] = {f"{__name__}.MinimalWarc": 950}
        MinimalWarc.path = out / "peer.warc.gz"
    process = CrawlerProcess(settings)
    crawler = process.create_crawler(PlainSpider)
    process.crawl(crawler)
    process.start()
    return crawler.stats.get_value("downloader/response_status_count/200", 0)


class MinimalWarc:
    """The warcio middleware anyone would write first: one request/response pair per exchange."""

    path: Path

    def __init__(self) -> None:
        from warcio.warcwriter import WARCWriter

        self.handle = open(self.path, "wb")  # noqa: SIM115 (open for the whole crawl)
        self.writer = WARCWriter(self.handle, gzip=True)

    def process_response(self, request, response):
        from warcio.statusandheaders import StatusAndHeaders

        headers = [(k.decode(), v.decode()) for k, vs in response.headers.items() for v in vs]
        resp = self.writer.create_warc_record(
            response.url,
            "response",
            payload=io.BytesIO(response.body),
            http_headers=StatusAndHeaders(f"{response.status} OK", headers, protocol="HTTP/1.1"),
        )
        req_headers = [(k.decode(), v.decode()) for k, vs in request.headers.items() for v in vs]
        req = self.writer.create_warc_record(
            request.url,
            "request",
            payload=io.BytesIO(b""),
            http_headers=StatusAndHeaders(f"GET {request.url} HTTP/1.1", req_headers, is_http_request=True),
        )
        self.writer.write_request_response_pair(req, resp)
        return response


def asyncio_peer(urls: list[str]) -> int:
    import asyncio

    import aiohttp

    async def crawl() -> int:
        connector = aiohttp.TCPConnector(limit=CONNECTIONS, limit_per_host=CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector) as session:
            queue: asyncio.Queue[str] = asyncio.Queue()
            for url in urls:
                queue.put_nowait(url)
            ok = 0

            async def worker() -> None:
                nonlocal ok
                while not queue.empty():
                    async with session.get(queue.get_nowait()) as response:
                        await response.read()
                        ok += response.status == 200

            await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
            return ok

    return asyncio.run(crawl())


# ---- the driver ---------------------------------------------------------------------------------------------
def measure(command: list[str], cwd: Path, env: dict) -> dict:
    """Wall time, CPU time and peak RSS (sampled over the process tree) of one crawler process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    watched, peak, done = psutil.Process(proc.pid), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                tree = [watched, *watched.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in tree))
            except psutil.Error:
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{command[2:6]} exited with {proc.returncode}")
    return {"s": seconds, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss": peak[0]}


def ours(site: str, tmp: Path, env: dict) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp))
    job = CrawlJob(out=out, mode="reconcile", site=site, polite=False, settings={"LOG_LEVEL": "WARNING"})
    figures = measure(job.command(), out, env)
    stats = json.loads((out / "stats.json").read_text())
    figures["pages"] = stats["fetch"].get("fetched", 0) + stats["fetch"].get("redirected", 0)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    figures["records"] = len(records)
    figures["urls"] = [r["requested_url"] for r in records if r["status"] == "fetched"]
    return figures


def peer(name: str, urls_file: Path, tmp: Path, env: dict) -> dict:
    out = Path(tempfile.mkdtemp(dir=tmp))
    command = [sys.executable, __file__, "--run", name, "--urls", str(urls_file), "--out", str(out)]
    figures = measure(command, out, env)
    figures["pages"] = json.loads((out / "pages.json").read_text())
    return figures


def compare(posts: int, reps: int) -> dict:
    port = free_port_block(size=1)
    sim = subprocess.Popen(
        [sys.executable, "-m", "infra.simulator", "serve", "--posts", str(posts), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    env = dict(os.environ, SCRAPY_SETTINGS_MODULE="spiders.settings", PYTHONPATH=str(ROOT))
    runs: dict[str, list[dict]] = {name: [] for name in CRAWLERS}
    try:
        sim.stdout.readline()  # "simulator: ... ready"
        site = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            urls = ours(site, tmp, env)["urls"]  # a warm-up that also gives the peers their URL list
            urls_file = tmp / "urls.json"
            urls_file.write_text(json.dumps(urls))
            for _ in range(reps):
                runs["this project"].append(ours(site, tmp, env))
                for name in CRAWLERS[1:]:
                    runs[name].append(peer(name, urls_file, tmp, env))
    finally:
        sim.terminate()
        sim.wait()
    figures = {}
    for name, done in runs.items():
        pages = done[0]["pages"]
        figures[name] = {
            "pages": pages,
            "pages_per_s": round(statistics.median(r["pages"] / r["s"] for r in done), 1),
            "cpu_ms_per_page": round(statistics.median(1000 * r["cpu_s"] / r["pages"] for r in done), 2),
            "peak_rss_mb": round(max(r["peak_rss"] for r in done) / 2**20),
            "each_pages_per_s": [round(r["pages"] / r["s"], 1) for r in done],
        }
        if any(r["pages"] != pages for r in done):
            raise RuntimeError(f"{name} fetched {[r['pages'] for r in done]} pages: runs differ")
    base = figures["scrapy+warcio"]["pages_per_s"]
    for name in figures:
        figures[name]["vs_scrapy_warcio"] = round(figures[name]["pages_per_s"] / base, 2)
    return {"bench": "peers", "posts": posts, "urls": len(urls), "reps": reps, "crawlers": figures}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--run", choices=CRAWLERS[1:], help="run one peer crawl (the driver's entry point)")
    parser.add_argument("--urls", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.run:
        urls = json.loads(args.urls.read_text())
        if args.run == "asyncio":
            pages = asyncio_peer(urls)
        else:
            pages = scrapy_peer(urls, args.out, warc=args.run == "scrapy+warcio")
        (args.out / "pages.json").write_text(json.dumps(pages))
        return
    print(json.dumps(compare(args.posts, args.reps)))


if __name__ == "__main__":
    main()
