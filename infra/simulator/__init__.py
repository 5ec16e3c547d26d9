"""A deterministic simulator of insightcrime.org (and a generic WordPress news site) for offline development and
tests (see docs/simulator.md)."""

from .server import Fault, RateLimit, Simulator
from .site import GENERIC_NEWS, INSIGHT_CRIME, SPECS, Category, Change, Post, Site, SiteSpec

__all__ = [
    "GENERIC_NEWS",
    "INSIGHT_CRIME",
    "SPECS",
    "Category",
    "Change",
    "Fault",
    "Post",
    "RateLimit",
    "Simulator",
    "Site",
    "SiteSpec",
]
