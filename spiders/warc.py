"""WARC capture of every HTTP exchange, as the crawler saw it on the wire.

Placed next to the downloader, this middleware sees final request headers and the raw (still compressed)
response before redirects, retries or decompression, and writes a WARC/1.1 ``request`` + ``response`` pair per
exchange with warcio (block and payload digests included). Files roll over at a size limit and carry an
``.open`` suffix until closed, so a crashed crawl never leaves a file that looks complete.
"""

from __future__ import annotations

import io
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from scrapy import Request, signals
from scrapy.http import Response
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

_HOP_BY_HOP = {b"transfer-encoding", b"connection", b"keep-alive"}


class RollingWarcWriter:
    """gzip WARC files named ``PREFIX-TIMESTAMP-SERIAL-HOST.warc.gz`` (IIPC convention), rolled at `max_bytes`."""

    def __init__(self, directory: str | Path, prefix: str, max_bytes: int, software: str):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.prefix, self.max_bytes, self.software = prefix, max_bytes, software
        self.serial = 0
        self.handle = None
        self.writer: WARCWriter | None = None
        self.name = ""
        self.closed_files: list[str] = []

    def _open(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
        self.name = f"{self.prefix}-{stamp}-{self.serial:05d}-{socket.gethostname()}.warc.gz"
        self.serial += 1
        self.handle = open(self.directory / (self.name + ".open"), "wb")  # noqa: SIM115 (spans many records)
        self.writer = WARCWriter(self.handle, gzip=True, warc_version="WARC/1.1")
        info = {
            "software": self.software,
            "format": "WARC File Format 1.1",
            "robots": "obey",
            "description": "insight-briefs crawl capture",
        }
        self.writer.write_record(self.writer.create_warcinfo_record(self.name, info))

    def write(self, records: list) -> tuple[str, int]:
        """Write records together in one file; returns (file name, offset of the first)."""
        if self.handle is None or self.handle.tell() >= self.max_bytes:
            self.close()
            self._open()
        assert self.writer is not None and self.handle is not None
        offset = self.handle.tell()
        for record in records:
            self.writer.write_record(record)
        return self.name, offset

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            os.replace(self.directory / (self.name + ".open"), self.directory / self.name)
            self.closed_files.append(self.name)
            self.handle = self.writer = None


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class WarcCaptureMiddleware:
    def __init__(self, crawler):
        settings = crawler.settings
        self.crawler = crawler
        self.out = RollingWarcWriter(
            settings.get("WARC_DIR", "warc"),
            settings.get("WARC_PREFIX", "briefs"),
            settings.getint("WARC_MAX_BYTES", 1024**3),
            settings.get("USER_AGENT", "insight-briefs"),
        )
        crawler.signals.connect(self.out.close, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Response:
        writer = self.out.writer or self._writer()
        uri = response.url
        date = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, vs in response.headers.items()
            for v in vs
            if k.lower() not in _HOP_BY_HOP and k.lower() != b"content-length"
        ]
        headers.append(("Content-Length", str(len(response.body))))
        protocol = response.protocol or "HTTP/1.1"
        http_response = StatusAndHeaders(
            f"{response.status} {_reason(response.status)}".strip(), headers, protocol=protocol
        )
        warc_headers = {"WARC-Date": date}
        if response.ip_address is not None:
            warc_headers["WARC-IP-Address"] = str(response.ip_address)
        resp_record = writer.create_warc_record(
            uri,
            "response",
            payload=io.BytesIO(response.body),
            http_headers=http_response,
            warc_headers_dict=warc_headers,
        )
        split = request.url.split("/", 3)
        target = "/" + (split[3] if len(split) > 3 else "")
        req_headers = [("Host", split[2])] + [
            (k.decode("latin-1"), v.decode("latin-1")) for k, vs in request.headers.items() for v in vs
        ]
        http_request = StatusAndHeaders(
            f"{request.method} {target.split('#')[0]} {protocol}", req_headers, is_http_request=True
        )
        record_id = resp_record.rec_headers.get_header("WARC-Record-ID")
        req_record = writer.create_warc_record(
            uri,
            "request",
            payload=io.BytesIO(request.body or b""),
            http_headers=http_request,
            warc_headers_dict={"WARC-Date": date, "WARC-Concurrent-To": record_id},
        )
        name, offset = self.out.write([resp_record, req_record])
        request.meta["warc"] = {"file": name, "offset": offset, "record_id": record_id}
        self.crawler.stats.inc_value("briefs/warc/responses")
        return response

    def _writer(self) -> WARCWriter:
        self.out.write([])  # opens the first file
        assert self.out.writer is not None
        return self.out.writer
