"""Options shared by several commands, declared once (names, choices, help)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import typer


class Output(str, Enum):
    """-o/--output of most commands: one document on stdout, or a table."""

    table = "table"
    json = "json"
    yaml = "yaml"


class CheckOutput(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    sarif = "sarif"
    junit = "junit"


class FailOn(str, Enum):
    """--fail-on of `check`: the lowest severity that fails the run (exit 1); none never."""

    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    none = "none"


class SmokeOutput(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"
    junit = "junit"


class ManifestOutput(str, Enum):
    table = "table"
    json = "json"


def output_option(default: Enum = Output.table, what: str = "") -> Any:
    choices = ", ".join(str(m.value) for m in type(default))
    return typer.Option(
        default,
        "--output",
        "-o",
        case_sensitive=False,
        help=f"What stdout holds: {choices}{what}.",
    )


OUTPUT = output_option()
SITE = typer.Option(
    None,
    "--site",
    help="Site profile written by `swissai init` (default: ./swissai.yaml when present).",
)
CONTEXT = typer.Option(None, "--context", help="kubeconfig context to use.")
KUBECONFIG = typer.Option(
    None, "--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)."
)
NAMESPACE = typer.Option(None, "--namespace", "-n", help="Namespace (default: the site profile's).")
RECORD_FILE = typer.Option(
    Path("swissai-deployments.jsonl"),
    "--record-file",
    help="Local copy of the deployment records (JSON lines).",
)
