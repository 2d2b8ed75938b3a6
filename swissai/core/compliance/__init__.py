"""Compliance rule registry and rules (pure): `run_checks(CheckInput) -> Report`.

Importing this package registers every rule: the rule modules are imported here, one per
family, after the registry and the context they depend on (neither imports a rule module).
"""

from swissai.core.compliance import (  # noqa: F401  (imported to register their rules)
    rules_gov,
    rules_hrd,
    rules_log,
    rules_net,
    rules_ops,
    rules_res,
    rules_sec,
    rules_sup,
)
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
