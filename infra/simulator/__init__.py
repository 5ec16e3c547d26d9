"""A deterministic simulator of insightcrime.org for offline development and tests (see docs/simulator.md)."""

from .server import Fault, RateLimit, Simulator
from .site import Change, Post, Site

__all__ = ["Change", "Fault", "Post", "RateLimit", "Simulator", "Site"]
