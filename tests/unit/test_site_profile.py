"""SiteProfile: defaults, the file `swissai init` writes, and errors that name the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from render_support import site, site_data

from swissai.adapters.site import load_site, site_text
from swissai.errors import InputError
from swissai.models.site import SiteProfile


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "swissai.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_init_text_parses_back_to_the_defaults() -> None:
    text = site_text(SiteProfile())
    assert text.startswith("# swissai site profile")
    assert "# Where pods may run" in text
    assert SiteProfile.model_validate(yaml.safe_load(text)) == SiteProfile()


def test_init_text_round_trips_a_customised_profile() -> None:
    custom = site(security={"openshift": True}, exposure={"type": "http_route"})
    assert SiteProfile.model_validate(yaml.safe_load(site_text(custom))) == custom


def test_defaults_report_their_placeholders() -> None:
    assert SiteProfile().placeholders() == [
        "image.digest",
        "model.revision",
        "model.manifest_sha256",
    ]
    assert site().placeholders() == []


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"imagee": {}}, "imagee"),
        ({"image": {"digest": "latest"}}, "image.digest"),
        ({"image": {"registry": "docker.io"}}, "image.registry"),
        ({"placement": {"regions": ["us-east-1"]}}, "placement.regions"),
        ({"namespace": "default"}, "namespace"),
        ({"namespace": "LLM Prod"}, "namespace"),
        ({"governance": {"owner": "Jane\nMuster"}}, "governance.owner"),
        ({"governance": {"inventory_id": 'AI-1"x'}}, "governance.inventory_id"),
        ({"gpu": {"node_selector": {"nvidia.com/gpu.present": "yes'"}}}, "gpu.node_selector"),
        ({"model": {"revision": "main"}}, "model.revision"),
        ({"model": {"path": "../etc"}}, "model.path"),
        ({"storage": {"storage_class": "gp3"}}, "storage.storage_class"),
        ({"storage": {"source": "object_store"}}, "storage.object_store"),
        ({"tls": {"mode": "vllm", "secret_name": None}}, "tls.secret_name"),
        ({"exposure": {"tyype": "ingress"}}, "exposure.tyype"),
    ],
)
def test_bad_profiles_are_exit_2_naming_the_key(
    tmp_path: Path, change: dict[str, object], path: str
) -> None:
    data = site_data()
    for key, value in change.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key in data else value
    with pytest.raises(InputError) as info:
        load_site(_write(tmp_path, data))
    assert info.value.exit_code == 2
    assert path in info.value.message


def test_object_store_must_be_inside_the_institution(tmp_path: Path) -> None:
    data = site_data()
    data["storage"] = {
        "source": "object_store",
        "object_store": {
            "endpoint": "https://s3.eu-central-2.amazonaws.com",
            "bucket": "models",
            "credentials_secret": "s3",
            "namespace": "models",
            "fetch_image": {"registry": "registry.bank.internal", "repository": "rclone/rclone"},
        },
    }
    with pytest.raises(InputError, match=r"not in compliance\.internal_domains"):
        load_site(_write(tmp_path, data))


def test_not_yaml_and_not_a_mapping_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("namespace: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="not valid YAML"):
        load_site(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(InputError, match="must be a mapping"):
        load_site(bad)


def test_the_default_encodings_folder_is_the_one_swissai_uses_everywhere() -> None:
    from swissai.core.encodings import ENCODINGS_SUBDIR
    from swissai.models.site import SiteProfile

    assert SiteProfile().model.tiktoken_dir == ENCODINGS_SUBDIR
