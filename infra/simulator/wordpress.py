"""What every simulated WordPress install shares: which installs serve which languages, stable ids, REST errors
and WordPress's query-parameter parsing (used by ``rest.py`` and ``surfaces.py``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from .site import SITE_TZ, Category, Post, Site

JSON = "application/json; charset=UTF-8"
TRUE = ("1", "true", "yes")


@dataclass(frozen=True)
class Install:
    """One WordPress install: the root one, or (vanilla) a separate install per other language under ``/<lang>``."""

    prefix: str  # "" or "/es"
    langs: tuple[str, ...]
    multilingual: bool

    @property
    def lang(self) -> str:
        return self.langs[0]

    def url(self, base: str) -> str:
        return base + self.prefix

    def posts(self, site: Site) -> list[Post]:
        return [p for p in site.ordered if p.gone is None and p.lang in self.langs]

    def categories(self, site: Site) -> list[Category]:
        return [c for c in site.categories if c.lang in self.langs]


def installs(site: Site, wordpress: str) -> list[Install]:
    """``multilingual``: one install holding every language; ``vanilla``: one install per language."""
    langs = site.spec.languages
    if wordpress == "multilingual":
        return [Install("", langs, True)]
    if wordpress == "vanilla":
        return [Install("", langs[:1], False)] + [Install(f"/{lang}", (lang,), False) for lang in langs[1:]]
    raise ValueError(f"wordpress must be 'multilingual' or 'vanilla', not {wordpress!r}")


MULTILINGUAL = Install("", ("en", "es"), True)


class BadRequest(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.body = json.dumps({"code": code, "message": message, "data": {"status": 400}})


def error_json(code: str, message: str, status: int) -> dict:
    return {"code": code, "message": message, "data": {"status": status}}


def error(code: str, message: str, status: int = 400) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": JSON}, json.dumps(error_json(code, message, status)).encode()


NO_ROUTE = ("rest_no_route", "No route was found matching the URL and request method.", 404)
CANNOT_VIEW = ("rest_user_cannot_view", "Sorry, you are not allowed to list users.", 401)


def parse_wp_date(value: str) -> datetime:
    """WordPress reads a date without offset in the site's timezone."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            "rest_invalid_param", f"Invalid parameter(s): {value!r} is not a valid date."
        ) from None
    if parsed.tzinfo is None:
        parsed = (parsed - SITE_TZ).replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def local_time(dt: datetime) -> str:
    return (dt + SITE_TZ).replace(tzinfo=None).isoformat(timespec="seconds")


def _stable_id(kind: str, name: str, start: int, span: int) -> int:
    return start + int(hashlib.sha1(f"{kind}:{name}".encode()).hexdigest(), 16) % span


def tag_id(name: str) -> int:
    """A tag's term id: stable per tag name (term ids below 1,000 are categories)."""
    return _stable_id("tag", name, 1000, 900_000)


def user_id(name: str) -> int:
    """An author's user id: stable per name."""
    return _stable_id("user", name, 2, 99_000)


def param_list(params: dict, name: str) -> list[str]:
    """``a=1,2``, ``a[]=1&a[]=2``: WordPress list parameters."""
    return [
        v.strip()
        for key in (name, f"{name}[]")
        for raw in params.get(key, [])
        for v in raw.split(",")
        if v.strip()
    ]


def param_ids(params: dict, name: str) -> set[int]:
    values = param_list(params, name)
    bad = [v for v in values if not v.isdigit()]
    if bad:
        raise BadRequest("rest_invalid_param", f"Invalid parameter(s): {name}[0] is not of type integer.")
    return {int(v) for v in values}


def param_int(params: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = params.get(name, [str(default)])[0]
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise BadRequest("rest_invalid_param", f"Invalid parameter(s): {name} must be between {lo} and {hi}.")
    return int(raw)


def pick_fields(data: dict, fields: set[str] | None) -> dict:
    if fields is None:
        return data
    return {k: v for k, v in data.items() if any(f == k or f.startswith(k + ".") for f in fields)}


def param_fields(params: dict) -> set[str] | None:
    return set(param_list(params, "_fields")) or None
