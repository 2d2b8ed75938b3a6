"""The rule registry: one function per rule, registered with stable metadata.

This module imports no rule module (rule modules import it, for the `rule` decorator); the
package `__init__` imports every rule module, so `REGISTRY` is complete whenever the package is
imported, without a circular import.

References are written as the catalog abbreviates them (`FINMA-OR §IV.D`, `FADP 16`,
`CKV_K8S_43`) and expanded here with the confidence that ../compliance/sources.md gives them:
verified where the primary text (or the project's own repository) was read, secondary where
only secondary sources confirm it, recalled where nobody has checked it yet. FINMA margin
numbers are never printed (they are approximate); chapter labels are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from swissai.models.findings import Confidence, FindingSeverity, Reference, RuleInfo, Target

if TYPE_CHECKING:
    from swissai.core.compliance.context import CheckContext, Results

CATALOG_VERSION = "0.1"

# prefix -> (expanded text, confidence, url)
_REFERENCE_PREFIXES: list[tuple[str, str, Confidence, str | None]] = [
    ("BankA 47", "Banking Act Art. 47 (banking secrecy)", "verified", None),
    ("FADP 6", "FADP Art. 6 (proportionality)", "recalled", None),
    ("FADP ", "FADP Art. {rest}", "verified", None),
    ("DPO ", "DPO Art. {rest}", "verified", None),
    ("FINMA-OR ", "FINMA Circ. 2023/1 ch. {rest}", "secondary", None),
    ("FINMA-OS", "FINMA Circ. 2018/3 Outsourcing{_rest}", "secondary", None),
    ("FINMA-AI ", "FINMA Guidance 08/2024 on AI, area {rest}", "secondary", None),
    ("SBA-CG", "SBA Cloud Guidelines, 3rd ed. (2025){_rest}", "secondary", None),
    ("AIA ", "EU AI Act Art. {rest} (contrast only)", "verified", None),
    (
        "PSS-R",
        "Kubernetes Pod Security Standards, Restricted",
        "secondary",
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
    ),
    (
        "PSS-B",
        "Kubernetes Pod Security Standards, Baseline",
        "secondary",
        "https://kubernetes.io/docs/concepts/security/pod-security-standards/",
    ),
    ("CIS ", "CIS Kubernetes Benchmark v1.10 {rest}", "verified", None),
    ("NSA-K8s", "NSA/CISA Kubernetes Hardening Guide v1.2{_rest}", "secondary", None),
    ("CKV", "Checkov {all}", "verified", None),
    ("KL ", "kube-linter {rest}", "verified", None),
    ("KY ", "Kyverno policy {rest}", "verified", None),
    ("POL ", "Polaris {rest}", "verified", None),
    (
        "vLLM-SEC",
        "vLLM docs/usage/security.md{_rest}",
        "verified",
        "https://github.com/vllm-project/vllm/blob/main/docs/usage/security.md",
    ),
    (
        "vLLM-USAGE",
        "vLLM vllm/usage/usage_lib.py{_rest}",
        "verified",
        "https://github.com/vllm-project/vllm/blob/main/vllm/usage/usage_lib.py",
    ),
    (
        "vLLM-ENV",
        "vLLM vllm/envs.py{_rest}",
        "verified",
        "https://github.com/vllm-project/vllm/blob/main/vllm/envs.py",
    ),
    ("vLLM ", "vLLM {rest}", "verified", None),
    ("huggingface_hub", "huggingface_hub constants.py{_rest}", "verified", None),
    (
        "Ray",
        "Ray docs, Usage Stats Collection",
        "verified",
        "https://docs.ray.io/en/latest/cluster/usage-stats.html",
    ),
    ("openai/harmony", "openai/harmony {rest}", "verified", None),
    ("FlashInfer", "FlashInfer {rest}", "verified", None),
    ("tiktoken", "tiktoken openai_public.py (pinned sha256 of the encodings)", "verified", None),
]


def expand_reference(short: str) -> Reference:
    """`FINMA-OR §IV.D` -> Reference('FINMA Circ. 2023/1 ch. IV.D', 'secondary')."""
    for prefix, template, confidence, url in _REFERENCE_PREFIXES:
        if short.startswith(prefix):
            rest = short[len(prefix) :].lstrip("§ ").strip()
            text = (
                template.replace("{all}", short)
                .replace("{_rest}", f" {rest}" if rest else "")
                .replace("{rest}", rest)
            )
            return Reference(text=text, confidence=confidence, url=url)
    raise ValueError(f"unknown reference abbreviation: {short!r}")


RuleFunc = Callable[["CheckContext", "Results"], None]


@dataclass(frozen=True)
class Rule:
    info: RuleInfo
    func: RuleFunc


REGISTRY: dict[str, Rule] = {}

THEMES = {
    "RES": "Data residency and sovereignty",
    "NET": "Network exposure",
    "SEC": "Confidentiality",
    "LOG": "Logging and traceability",
    "SUP": "Integrity and supply chain",
    "OPS": "Resilience",
    "GOV": "Governance and traceability",
    "HRD": "Workload hardening",
    "WAIVER": "Waivers",
}


def rule(
    id: str,
    *,
    title: str,
    severity: FindingSeverity,
    targets: list[Target],
    inspects: str,
    references: list[str],
    remediation: str,
    evidence: str | None = None,
    not_checked: str | None = None,
) -> Callable[[RuleFunc], RuleFunc]:
    """Register a rule function under its catalog id (ids are stable; never renumber)."""

    def register(func: RuleFunc) -> RuleFunc:
        if id in REGISTRY:
            raise ValueError(f"rule {id} registered twice")
        REGISTRY[id] = Rule(
            RuleInfo(
                id=id,
                title=title,
                theme=THEMES[id.split("-")[0]],
                severity=severity,
                targets=targets,
                inspects=" ".join(inspects.split()),
                references=[expand_reference(r) for r in references],
                remediation=" ".join(remediation.split()),
                evidence=" ".join(evidence.split()) if evidence else None,
                not_checked=" ".join(not_checked.split()) if not_checked else None,
            ),
            func,
        )
        return func

    return register


def rules() -> list[Rule]:
    """All rules in catalog order (theme order, then number). The registry is complete once
    `swissai.core.compliance` is imported: its `__init__` imports every rule module."""
    order = list(THEMES)
    return sorted(
        REGISTRY.values(),
        key=lambda r: (order.index(r.info.id.split("-")[0]), r.info.id),
    )
