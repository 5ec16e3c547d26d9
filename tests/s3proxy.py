"""A real HTTP reverse proxy in front of an S3 endpoint, so tests can make SeaweedFS misbehave like other stores.

Standard library only (``http.server.ThreadingHTTPServer`` + ``http.client``), bound to 127.0.0.1 on a free port,
started and stopped as a context manager; its threads are daemons.

    with S3Proxy(seaweed.endpoint, secret_key=seaweed.secret_key) as proxy:
        through = Bucket(dataclasses.replace(bucket.config, endpoint_url=proxy.endpoint))
        proxy.conflict("manifest.json")            # its next create-only PUT: 409 ConditionalRequestConflict
        proxy.ignore_if_none_match = True          # and then: a store that ignores create-only writes
        ...
        assert proxy.hits == 2 and proxy.statuses("PUT") == [409, 200]

Forwarding is faithful: method, path and query, every header (``Host`` kept exactly as the client sent it, since
SigV4 signs it and the server checks the signature against the ``Host`` it receives) and the body go upstream;
status, reason, headers and body come back. Only hop-by-hop framing is redone: ``Connection``/``Keep-Alive``
and ``Expect: 100-continue`` (answered by this proxy itself; botocore does not sign it) are not forwarded, and a
response body is re-framed with ``Content-Length``. Request bodies are read by ``Content-Length`` (what boto3
sends for ``put_object``/``upload_part``, ``aws-chunked`` payloads included: those are Content-Length framed too)
or, with ``Transfer-Encoding: chunked``, chunk by chunk and forwarded chunked (trailers are dropped).

Removing a header the client signed (``If-None-Match`` is in boto3's SigV4 ``SignedHeaders``) would make the
server refuse the signature, so the proxy then re-signs the request with the same access key, date and payload
hash: that needs the secret key (``S3Proxy(..., secret_key=...)``). A 409 answered by the proxy needs none.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import http.server
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from xml.sax.saxutils import escape

# Headers that describe one connection, not the message: never copied from one side to the other.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect"}

CONFLICT_MESSAGE = (
    "A conflicting conditional operation is currently in progress against this resource. Please try again."
)


@dataclass(frozen=True)
class Exchange:
    """One request seen by the proxy: ``rule`` names the rule that touched it (None when forwarded untouched)."""

    method: str
    path: str  # path and query, as sent by the client
    status: int  # what the client got (502 when the upstream could not be reached)
    rule: str | None = None

    @property
    def key_path(self) -> str:
        """The path without its query, URL-decoded: ``/bucket/prefix/key``."""
        return urllib.parse.unquote(self.path.partition("?")[0])


@dataclass
class _Conflict:
    key_substring: str
    times: int
    forward: bool


class S3Proxy:
    """Reverse proxy to ``upstream`` (``http://host:port``) on ``127.0.0.1:<free port>``; see the module doc.

    Rules (safe to set from the test thread while requests are in flight):

    * ``ignore_if_none_match = True``: strip ``If-None-Match`` from every PUT before forwarding (re-signing
      the request: needs ``secret_key``).
    * ``conflict(key_substring, times=1, forward=False)``: answer the next ``times`` PUTs whose path contains
      ``key_substring`` and that carry ``If-None-Match`` with 409 ``ConditionalRequestConflict``; with
      ``forward=True`` the PUT is first sent upstream (so it may take effect) and its answer replaced.

    ``log`` (a snapshot list of :class:`Exchange`), ``hits`` (how many times a rule changed a request or an
    answer), ``pending_conflicts`` and ``reset()`` let the test inspect and clear what happened.
    """

    def __init__(
        self,
        upstream: str,
        secret_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 60,
    ):
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError(f"upstream must be an http://host:port URL, not {upstream!r}")
        self.upstream = upstream
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.timeout = timeout
        self._secret_key = secret_key
        self._bind = (host, port)
        self._lock = threading.Lock()
        self._ignore_if_none_match = False
        self._conflicts: list[_Conflict] = []
        self._log: list[Exchange] = []
        self._hits = 0
        self._server: http.server.ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> S3Proxy:
        if self._server is not None:
            return self
        server = http.server.ThreadingHTTPServer(self._bind, _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="s3proxy", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> S3Proxy:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return self._server.server_address[1]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- rules -------------------------------------------------------------------------------------------
    @property
    def ignore_if_none_match(self) -> bool:
        with self._lock:
            return self._ignore_if_none_match

    @ignore_if_none_match.setter
    def ignore_if_none_match(self, value: bool) -> None:
        if value and self._secret_key is None:
            raise ValueError(
                "ignore_if_none_match changes signed requests: give S3Proxy(..., secret_key=...) to re-sign them"
            )
        with self._lock:
            self._ignore_if_none_match = bool(value)

    def conflict(self, key_substring: str, times: int = 1, forward: bool = False) -> None:
        """Queue a 409 ConditionalRequestConflict for the next `times` create/conditional PUTs of a key."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._conflicts.append(_Conflict(key_substring, times, forward))

    @property
    def pending_conflicts(self) -> int:
        """How many 409s the queued conflict rules will still give."""
        with self._lock:
            return sum(rule.times for rule in self._conflicts)

    def reset(self) -> None:
        """Drop every rule, the log and the hit counter."""
        with self._lock:
            self._ignore_if_none_match = False
            self._conflicts.clear()
            self._log.clear()
            self._hits = 0

    # ---- inspection --------------------------------------------------------------------------------------
    @property
    def log(self) -> list[Exchange]:
        with self._lock:
            return list(self._log)

    @property
    def hits(self) -> int:
        with self._lock:
            return self._hits

    def statuses(self, method: str | None = None, contains: str = "") -> list[int]:
        """Statuses of the logged requests, optionally of one method and whose decoded path contains a text."""
        return [
            e.status for e in self.log if (method is None or e.method == method) and contains in e.key_path
        ]

    # ---- used by the handler threads ---------------------------------------------------------------------
    def _decide(self, method: str, path: str, has_inm: bool) -> tuple[_Conflict | None, bool]:
        """(conflict rule consumed by this request, whether to strip If-None-Match); counts the hits."""
        if method != "PUT":
            return None, False
        decoded = urllib.parse.unquote(path.partition("?")[0])
        with self._lock:
            rule = None
            if has_inm:
                for candidate in self._conflicts:
                    if candidate.key_substring in decoded or candidate.key_substring in path:
                        rule = candidate
                        candidate.times -= 1
                        if candidate.times == 0:
                            self._conflicts.remove(candidate)
                        self._hits += 1
                        break
            strip = has_inm and self._ignore_if_none_match and (rule is None or rule.forward)
            if strip:
                self._hits += 1
            return rule, strip

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self._log.append(exchange)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def _drop_headers(method: str, path: str, headers: list, drop: set[str], secret_key: str | None) -> list:
    """`headers` without the (lower-case) names in `drop`; a SigV4 ``Authorization`` that signed one of them is
    recomputed without it, with the same access key, date, scope and payload hash (the client's secret is
    needed: the proxy's ``secret_key``). Presigned URLs and streaming (chunk-signed) payloads are not re-signed.
    """
    kept = [(n, v) for n, v in headers if n.lower() not in drop]
    auth = next((v for n, v in kept if n.lower() == "authorization"), "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return kept
    fields = dict(part.strip().partition("=")[::2] for part in auth[len("AWS4-HMAC-SHA256 ") :].split(","))
    signed = fields.get("SignedHeaders", "").split(";")
    if not drop & set(signed):
        return kept
    if secret_key is None:
        raise RuntimeError("s3proxy: re-signing a request needs S3Proxy(..., secret_key=...)")
    signed = [name for name in signed if name not in drop]
    values: dict[str, list[str]] = {}
    for name, value in kept:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    raw_path, _, query = path.partition("?")
    pairs = sorted(pair.partition("=")[::2] for pair in query.split("&")) if query else []
    canonical = "\n".join(
        [
            method,
            raw_path,
            "&".join(f"{k}={v}" for k, v in pairs),
            "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed),
            ";".join(signed),
            values.get("x-amz-content-sha256", ["UNSIGNED-PAYLOAD"])[0],
        ]
    )
    access_key, date, region, service, _ = fields["Credential"].split("/")
    scope = f"{date}/{region}/{service}/aws4_request"
    timestamp = values.get("x-amz-date", [""])[0]
    to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature}"
    )
    return [(n, authorization if n.lower() == "authorization" else v) for n, v in kept]


def conflict_body(key: str, request_id: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Error><Code>ConditionalRequestConflict</Code>"
        f"<Message>{CONFLICT_MESSAGE}</Message>"
        f"<Key>{escape(key)}</Key><RequestId>{request_id}</RequestId><HostId>s3proxy</HostId></Error>"
    ).encode()


def _handler_for(proxy: S3Proxy) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(_ProxyHandler):
        pass

    Handler.proxy = proxy
    return Handler


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    proxy: S3Proxy
    protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` answered before the body is read

    def log_message(self, format, *args):  # quiet: the proxy keeps its own log
        pass

    def _read_body(self) -> tuple[bytes | list[bytes] | None, bool]:
        """(body, chunked): bytes by Content-Length, or the list of chunks of a chunked body."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return chunks, True
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = self.headers.get("Content-Length")
        if length is None:
            return None, False
        return self.rfile.read(int(length)), False

    def _relay(self) -> None:
        proxy = self.proxy
        body, chunked = self._read_body()
        rule, strip = proxy._decide(self.command, self.path, "If-None-Match" in self.headers)
        names = (["conflict+forward" if rule.forward else "conflict"] if rule else []) + (
            ["ignore_if_none_match"] if strip else []
        )
        rule_name = "+".join(names) or None

        # recorded before answering: the client may read the log as soon as it has its answer
        def record(status: int) -> None:
            proxy._record(Exchange(self.command, self.path, status, rule_name))

        if rule is not None and not rule.forward:
            record(409)
            self._answer_conflict()
            return
        headers = [(n, v) for n, v in self.headers.items() if n.lower() not in _HOP_BY_HOP]
        if strip:
            headers = _drop_headers(self.command, self.path, headers, {"if-none-match"}, proxy._secret_key)
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=proxy.timeout)
        with contextlib.closing(upstream):
            try:
                self._forward(upstream, headers, body, chunked)
                response = upstream.getresponse()
            except OSError as exc:
                record(502)
                self._answer(502, b"s3proxy: upstream failed: " + type(exc).__name__.encode())
                return
            if rule is not None:
                response.read()
                record(409)
                self._answer_conflict()
            else:
                record(response.status)
                self._send_upstream_response(response)

    def _forward(self, conn: http.client.HTTPConnection, headers, body, chunked: bool) -> None:
        # putrequest/putheader rather than request(): headers go out exactly as given, Host included, in order
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        if chunked:
            conn.endheaders()
            for chunk in body:
                conn.send(b"%X\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        else:
            conn.endheaders(message_body=body or None)

    def _send_upstream_response(self, response: http.client.HTTPResponse) -> None:
        self.send_response_only(response.status, response.reason)
        no_body = self.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
        length = response.getheader("Content-Length")
        framed_by_length = length is not None and "chunked" not in (
            response.getheader("Transfer-Encoding") or ""
        )
        body = b""
        if not no_body and not framed_by_length:
            body = response.read()  # chunked or close-delimited upstream: re-frame with Content-Length
        for name, value in response.getheaders():
            lowered = name.lower()
            if lowered in _HOP_BY_HOP or lowered == "transfer-encoding":
                continue
            if lowered == "content-length" and not no_body and not framed_by_length:
                continue
            self.send_header(name, value)
        if not no_body and not framed_by_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if no_body:
            response.read()
            return
        if framed_by_length:
            while chunk := response.read(1 << 16):
                self.wfile.write(chunk)
        else:
            self.wfile.write(body)
        self.wfile.flush()

    def _answer_conflict(self) -> int:
        key = urllib.parse.unquote(self.path.partition("?")[0]).lstrip("/").partition("/")[2]
        request_id = secrets.token_hex(8).upper()
        return self._answer(
            409,
            conflict_body(key, request_id),
            "application/xml",
            [("x-amz-request-id", request_id)],
        )

    def _answer(self, status: int, body: bytes, content_type: str = "text/plain", extra=()) -> int:
        self.send_response_only(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()
        return status

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _relay
