"""A Kubernetes object (or any YAML document) with the line of every field it came with."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def join_path(base: str, key: str | int) -> str:
    """`spec` + `containers` -> `spec.containers`; + 0 -> `spec.containers[0]`; keys with dots
    or slashes are quoted: `metadata.labels["app.kubernetes.io/name"]`."""
    if isinstance(key, int):
        return f"{base}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{base}.{key}" if base else key
    return f'{base}["{key}"]'


class Document(BaseModel):
    """One YAML document: the data, where it came from and the 1-based line of each field."""

    model_config = ConfigDict(frozen=True)

    data: dict[str, Any]
    file: str | None = Field(None, description="path as given, '-' for stdin, None for live")
    line: int = Field(1, description="line where the document starts")
    lines: dict[str, int] = Field(default_factory=dict, description="field path -> line")
    source: Literal["file", "stdin", "cluster"] = "file"

    @property
    def kind(self) -> str:
        return str(self.data.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.data.get("apiVersion") or "")

    @property
    def metadata(self) -> dict[str, Any]:
        meta = self.data.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.metadata.get("name") or "")

    @property
    def namespace(self) -> str | None:
        ns = self.metadata.get("namespace")
        return str(ns) if ns else None

    @property
    def labels(self) -> dict[str, str]:
        labels = self.metadata.get("labels")
        return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {}

    @property
    def ref(self) -> str:
        """`Deployment/ai/gpt-oss-120b`, or `Namespace/ai` for cluster-scoped objects."""
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    def line_of(self, path: str) -> int:
        """Line of `path`, or of its nearest ancestor present in the input, or the start line."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.line
