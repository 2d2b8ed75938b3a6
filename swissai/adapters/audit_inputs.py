"""Reading the audit pack's evidence files (`swissai report`): a `check -o json` report, the
deployment records (JSON lines, one DeployRecord each), a PlannerAccuracy document, and the
sha256 of each input's bytes. Bounded like every other input; a broken file is exit 2."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import ValidationError

from swissai.adapters.yaml_safe import (
    DOCUMENT_LIMITS,
    MANIFEST_LIMITS,
    load_data_file,
    load_json,
    read_capped,
)
from swissai.errors import InputError
from swissai.models.audit import PlannerAccuracy
from swissai.models.deploy import DeployRecord
from swissai.models.findings import Report

CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while block := handle.read(CHUNK):
                digest.update(block)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "(top)"
    return f"{where}: {err.get('msg', 'invalid')}"


def load_findings(path: Path) -> Report:
    """A `swissai check -o json` (or `--out check.json`) ComplianceReport."""
    data = load_data_file(path, MANIFEST_LIMITS, what="findings")
    try:
        return Report.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"findings {path}: not a swissai check report ({_first_error(exc)})",
            hint="write it with `swissai check ... -o json > check.json`",
        ) from None


def load_accuracy(path: Path) -> PlannerAccuracy:
    data = load_data_file(path, DOCUMENT_LIMITS, what="planner accuracy")
    try:
        return PlannerAccuracy.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"planner accuracy {path}: {_first_error(exc)}",
            hint="write it with `python benchmarks/plan_accuracy.py --json FILE`",
        ) from None


def load_records(path: Path) -> list[DeployRecord]:
    """The deployment records file (`--record-file`, JSON lines)."""
    text = read_capped(path, MANIFEST_LIMITS, "deployment records")
    out: list[DeployRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        data = load_json(line, f"deployment records {path}:{number}", DOCUMENT_LIMITS)
        try:
            out.append(DeployRecord.model_validate(data))
        except ValidationError as exc:
            raise InputError(
                f"deployment records {path}:{number}: {_first_error(exc)}",
                hint="give the --record-file that `swissai deploy` writes",
            ) from None
    return out
