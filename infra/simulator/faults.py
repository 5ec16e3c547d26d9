"""Switchable faults and rate limiting of the simulated site: what a hostile or struggling server does."""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from .server import Simulator

HTML = "text/html; charset=UTF-8"
FAULT_KINDS = (
    "status",
    "slow",
    "truncate",
    "reset",
    "bad_charset",
    "huge",
    "redirect_loop",
    "non_html",
    "empty",
    "malformed",
    "offsite_redirect",
    "empty_body_layout",
    "override",  # arg: (status, headers, body) served instead of the real answer
    "replace",  # arg: ((regex, replacement), ...) applied to the real body, in order
)


@dataclass
class Hit:
    at: float
    method: str
    target: str
    status: int
    size: int
    headers: dict
    complete: bool = True


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    headers: dict,
    body: bytes,
    declared: int | None = None,
    complete: bool = True,
) -> Hit:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body) if declared is None else declared))
    # One write for head and body: two small writes would meet Nagle and delayed ACKs (40 ms stalls).
    handler._headers_buffer.append(b"\r\n")
    head = b"".join(handler._headers_buffer)
    handler._headers_buffer = []
    handler.wfile.write(head + (body if handler.command != "HEAD" else b""))
    if not complete:
        handler.close_connection = True
    return Hit(time.time(), handler.command, handler.path, status, len(body), {}, complete)


@dataclass
class Fault:
    """Applies `kind` to requests whose path matches `pattern` (a regex), `times` times (None: always), each with
    `probability` drawn from a seeded generator (storms are reproducible)."""

    pattern: str
    kind: str
    arg: float | int | tuple | None = None
    times: int | None = None
    probability: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(0), repr=False)
    replaced: dict = field(default_factory=dict)  # "replace": regex -> substitutions made so far

    def __post_init__(self) -> None:
        if self.kind == "replace":  # a malformed argument would serve the real page and test nothing
            pairs = self.arg if isinstance(self.arg, tuple) else ()
            if not pairs or not all(isinstance(p, tuple) and len(p) == 2 for p in pairs):
                raise ValueError(f"replace fault wants ((regex, replacement), ...), got {self.arg!r}")
            for pattern, _ in pairs:
                re.compile(pattern)  # a bad regex fails at inject, not inside a request
            self.replaced = {pattern: 0 for pattern, _ in pairs}

    def take(self, path: str) -> bool:
        if self.times == 0 or not re.search(self.pattern, path):
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        return True


@dataclass
class RateLimit:
    """More than `burst` requests within `window` seconds answers 429 with ``Retry-After: retry_after``."""

    burst: int
    window: float
    retry_after: int = 2
    recent: list[float] = field(default_factory=list)
    blocked_until: float = 0.0

    def admit(self, now: float) -> bool:
        if now < self.blocked_until:
            return False
        self.recent = [t for t in self.recent if now - t < self.window]
        if len(self.recent) >= self.burst:
            self.blocked_until = now + self.retry_after
            return False
        self.recent.append(now)
        return True


def apply_fault(handler, fault: Fault, sim: Simulator, status: int, headers: dict, body: bytes) -> Hit:
    kind = fault.kind
    if kind == "status":
        code = int(fault.arg or 500)
        extra = {"Retry-After": "1"} if code == 503 else {}
        return send(handler, code, {"Content-Type": HTML, **extra}, b"<html><body>Server error</body></html>")
    if kind == "truncate":
        return send(handler, status, headers, body[: len(body) // 3], declared=len(body), complete=False)
    if kind == "reset":
        handler.close_connection = True
        handler.connection.close()
        return Hit(time.time(), handler.command, handler.path, 0, 0, {}, complete=False)
    if kind == "bad_charset":
        text = body.decode("utf-8").replace("Peru", "Perú").replace("InSight Crime", "InSight Crime — ñ")
        return send(handler, status, headers, text.encode("cp1252", "replace"))
    if kind == "huge":
        size = int(fault.arg or 50 * 2**20)
        filler = b"<p>" + b"x" * 1020 + b"</p>"
        return send(handler, 200, {"Content-Type": HTML}, filler * (size // len(filler)))
    if kind == "redirect_loop":
        path = urlsplit(handler.path).path
        return send(handler, 302, {"Location": sim.base + path + ("" if path.endswith("/") else "/")}, b"")
    if kind == "offsite_redirect":
        return send(handler, 301, {"Location": sim.trap_url or "http://127.0.0.2/"}, b"")
    if kind == "non_html":
        return send(handler, 200, {"Content-Type": "application/pdf"}, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" * 64)
    if kind == "empty":
        return send(handler, 200, {"Content-Type": HTML}, b"")
    if kind == "malformed":
        return send(handler, 200, headers, body.replace(b"</p>", b"").replace(b"</div>", b"<div><<")[:-200])
    if kind == "empty_body_layout":
        html = re.sub(
            rb'<div class="entry-content">.*?</div>\n<div class="sharedaddy',
            b'<div class="sharedaddy',
            body,
            flags=re.S,
        )
        return send(handler, status, headers, html)
    if kind == "override":
        code, extra, payload = fault.arg
        return send(handler, code, extra, payload)
    if kind == "replace":
        return send(handler, status, headers, _replace(fault, body))
    raise ValueError(kind)


def _replace(fault: Fault, body: bytes) -> bytes:
    """The body with each (regex, replacement) of ``fault.arg`` applied (``re.S``; str pairs act on the UTF-8
    text). Counts go to ``fault.replaced``: a test asserts they are not 0, or it tested the healthy page."""
    for pattern, replacement in fault.arg:
        pat = pattern.encode() if isinstance(pattern, str) else pattern
        rep = replacement.encode() if isinstance(replacement, str) else replacement
        body, count = re.subn(pat, rep, body, flags=re.S)
        fault.replaced[pattern] += count
    return body
