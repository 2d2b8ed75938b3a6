"""Compliance rule registry and rules (pure): `run_checks(CheckInput) -> Report`."""

from swissai.core.compliance.context import CheckContext
from swissai.core.compliance.engine import WAIVER_RULES, CheckInput, WaiverEntry, run_checks
from swissai.core.compliance.registry import CATALOG_VERSION, REGISTRY, rules

__all__ = [
    "CATALOG_VERSION",
    "REGISTRY",
    "WAIVER_RULES",
    "CheckContext",
    "CheckInput",
    "WaiverEntry",
    "rules",
    "run_checks",
]
