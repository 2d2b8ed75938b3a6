"""Manifest loading: multi-document streams with the line of every field, and exit-2 input
errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from swissai.adapters.manifests import load_manifests
from swissai.errors import InputError

STREAM = """# Source: chart/templates/deployment.yaml
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ai
spec:
  template:
    spec:
      containers:
      - name: a
        image: x
        env:
        - name: K
          value: v
---
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c, labels: {app.kubernetes.io/name: c}}
"""


def test_stream_objects_carry_field_lines(tmp_path: Path) -> None:
    path = tmp_path / "all.yaml"
    path.write_text(STREAM, encoding="utf-8")
    dep, cm = load_manifests([str(path)])
    assert dep.ref == "Deployment/ai/web" and dep.line == 3
    assert dep.line_of("spec.template.spec.containers[0].env[0]") == 15
    assert dep.line_of("spec.template.spec.containers[0].env[0].value") == 16
    assert dep.line_of("spec.template.spec.containers[0].securityContext.runAsNonRoot") == 12
    assert cm.ref == "ConfigMap/c" and cm.line == 22
    assert cm.line_of('metadata.labels["app.kubernetes.io/name"]') == 24


def test_stdin_stream() -> None:
    objects = load_manifests(["-"], stdin_text=STREAM)
    assert [o.file for o in objects] == ["-", "-"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a: [1, 2\n", "not valid YAML"),
        ("- just\n- a list\n", "not a Kubernetes object"),
        ("foo: bar\n", "no apiVersion/kind"),
        ("# only a comment\n", "holds no Kubernetes objects"),
        ("apiVersion: swissai/v1alpha1\nkind: ServePlan\n", "--plan"),
    ],
)
def test_bad_input_is_an_input_error_naming_the_file(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_manifests([str(path)])
    message = err.value.message + (err.value.hint or "")
    assert str(path) in err.value.message and words in message


def test_directories_are_read_recursively_and_empty_ones_refused(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    )
    (tmp_path / "notes.txt").write_text("ignored")
    assert [o.name for o in load_manifests([str(tmp_path)])] == ["a"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        load_manifests([str(tmp_path / "empty")])
