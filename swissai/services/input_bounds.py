"""Bounds for numeric flags, one place for serve, smoke and bench.

Click turns `nan`, `inf` and `-1` into floats without complaint: `bench --duration nan` would
run forever and `serve --grace -1` would SIGKILL vLLM at once. Every duration, timeout, count
and port is checked here before anything is touched: exit 2, one line naming the flag.
"""

from __future__ import annotations

import math

from swissai.errors import InputError

# Sane maxima: a week for a startup or a request, an hour between SIGTERM and SIGKILL, a day
# per bench level; beyond these a value is a typo, not a plan.
MAX_STARTUP_TIMEOUT_S = 7 * 24 * 3600.0
MAX_REQUEST_TIMEOUT_S = 24 * 3600.0
MAX_GRACE_S = 3600.0
MAX_LEVEL_DURATION_S = 24 * 3600.0
MAX_CONCURRENCY = 4096
MAX_NUM_PROMPTS = 1_000_000
MAX_WARMUP = 1000
MAX_TOKENS_PER_REQUEST = 10_000_000
MAX_CPU_KVCACHE_GIB = 4096


def seconds(flag: str, value: float, *, maximum: float, allow_zero: bool = False) -> float:
    """A finite duration in seconds: > 0 (>= 0 with allow_zero) and <= maximum."""
    low_ok = value >= 0 if allow_zero else value > 0
    if not math.isfinite(value) or not low_ok or value > maximum:
        low = "0" if allow_zero else "more than 0"
        raise InputError(
            f"{flag} {value:g}: give a finite number of seconds, {low} to {maximum:g}",
            hint=f"e.g. {flag} 30",
        )
    return value


def count(flag: str, value: int, *, minimum: int = 1, maximum: int) -> int:
    """An integer within [minimum, maximum]."""
    if not minimum <= value <= maximum:
        raise InputError(f"{flag} {value}: give a whole number from {minimum} to {maximum}")
    return value


def ratio(flag: str, value: float, *, maximum: float = 100.0) -> float:
    """A finite positive fraction (e.g. a tolerance of 0.5 = 50 %)."""
    if not math.isfinite(value) or value <= 0 or value > maximum:
        raise InputError(f"{flag} {value:g}: give a finite number above 0, at most {maximum:g}")
    return value


def port(flag: str, value: int) -> int:
    if not 1 <= value <= 65535:
        raise InputError(f"{flag} {value} must be 1 to 65535")
    return value
