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


def test_duplicate_keys_are_refused_with_file_and_line(tmp_path: Path) -> None:
    """Two manifests concatenated without `---` read as one mapping with repeated keys; a YAML
    loader would keep the last value of each and drop the first object silently."""
    first = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
    second = "apiVersion: v1\nkind: Secret\nmetadata: {name: b}\n"
    path = tmp_path / "cat.yaml"
    path.write_text(first + second, encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_manifests([str(path)])
    assert err.value.exit_code == 2
    assert err.value.message == f"{path}:4: duplicate key 'apiVersion' (first at line 1)"
    assert err.value.hint is not None and "---" in err.value.hint
    nested = tmp_path / "nested.yaml"
    nested.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: 1\n  k: 2\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"nested\.yaml:6: duplicate key 'k'"):
        load_manifests([str(nested)])
    with pytest.raises(InputError, match=r"^-:4: duplicate key"):
        load_manifests(["-"], stdin_text=first + second)
    # the same keys in separate documents, and YAML merge keys, are fine
    merged = "base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n"
    assert load_manifests(["-"], stdin_text=first + "---\n" + second)
    from swissai.adapters.manifests import parse_yaml_documents

    assert next(iter(parse_yaml_documents(merged, "m.yaml")))[0]["other"] == {"x": 1, "y": 2}
