"""`swissai init`, `swissai render` and `swissai model` as users and CI call them.

init and render run in-process (typer's CliRunner on the real app, which maps errors to exit
codes itself); a few tests keep the real process (`python -m swissai`) for the one-line error
contract and the model commands.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from render_support import PLAN_MULTI, PLAN_SINGLE, SITE
from typer.testing import CliRunner, Result

from swissai.adapters.site import load_site
from swissai.adapters.tracked_files import INDEX_NAME, read_index
from swissai.cli.main import app
from swissai.core.encodings import ENCODINGS_SUBDIR
from swissai.models.site import SiteProfile
from tests.swissai_process import swissai

REPO = Path(__file__).resolve().parents[2]


# -- init ---------------------------------------------------------------------------------------

runner = CliRunner()


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def test_init_writes_a_commented_valid_profile_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = run("init")
    assert first.exit_code == 0, first.stderr
    written = tmp_path / "swissai.yaml"
    assert "# swissai site profile" in written.read_text(encoding="utf-8")
    assert load_site(written) == SiteProfile()
    assert "image.digest" in first.stderr
    written.write_text("edited\n", encoding="utf-8")
    again = run("init")
    assert again.exit_code == 2
    assert "exists" in again.stderr and "--force" in again.stderr
    assert written.read_text(encoding="utf-8") == "edited\n"
    forced = run("init", "--force")
    assert forced.exit_code == 0 and load_site(written) == SiteProfile()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_init_options_land_in_the_profile(tmp_path: Path) -> None:
    out = tmp_path / "conf" / "site.yaml"
    args = ["--namespace", "llm-test", "--registry", "harbor.bank.ch", "--openshift"]
    result = run("init", "--out", str(out), *args, "--inventory-id", "AI-9")
    assert result.exit_code == 0, result.stderr
    site = load_site(out)
    assert site.namespace == "llm-test" and site.image.registry == "harbor.bank.ch"
    assert site.compliance.allowed_registries == ["harbor.bank.ch"]
    assert site.security.openshift and site.dns.ports == [5353]
    assert site.governance.inventory_id == "AI-9"
    assert site.model.tiktoken_dir == ENCODINGS_SUBDIR


def test_init_refuses_a_bad_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("init", "--namespace", "Bad Name")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: init: namespace")
    assert not (tmp_path / "swissai.yaml").exists()


# -- render ------------------------------------------------------------------------------------


def test_render_writes_one_object_per_file(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    result = run("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(out))
    assert result.exit_code == 0, result.stderr
    files = sorted(p.name for p in out.iterdir() if p.name != INDEX_NAME)
    assert files[0] == "01-namespace-llm-prod.yaml"
    assert "08-deployment-gpt-oss-120b.yaml" in files
    for name in files:
        (doc,) = list(yaml.safe_load_all((out / name).read_text(encoding="utf-8")))
        assert doc["metadata"]["name"] in name
    assert "08-deployment-gpt-oss-120b.yaml" in result.stdout and "Deployment" in result.stdout
    assert "written to" in result.stdout and "not written" not in result.stdout
    assert "warning" not in result.stderr and f"wrote 12 objects to {out}" in result.stderr
    assert sorted(read_index(out)) == files


def test_render_without_out_claims_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("render", str(PLAN_SINGLE), "--site", str(SITE))
    assert result.exit_code == 0, result.stderr
    assert "not written" in result.stdout
    assert ".yaml" not in result.stdout and "file" not in result.stdout.split("\n")[1]
    assert "Deployment" in result.stdout and "gpt-oss-120b" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_render_json_is_one_list_document_and_only_its_own_stale_files_go(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    first = run("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(out))
    assert first.exit_code == 0, first.stderr
    (out / "99-old-object.yaml").write_text("kind: Old\n", encoding="utf-8")
    (out / "README.md").write_text("mine\n", encoding="utf-8")
    result = run("render", str(PLAN_MULTI), "--site", str(SITE), "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kind"] == "List"
    kinds = [item["kind"] for item in document["items"]]
    assert "LeaderWorkerSet" in kinds and "Deployment" not in kinds
    # the single-node files swissai wrote are gone, and it says so; the user's files stay
    assert not (out / "08-deployment-gpt-oss-120b.yaml").exists()
    assert "removed " in result.stderr and "08-deployment-gpt-oss-120b.yaml" in result.stderr
    assert (out / "99-old-object.yaml").exists() and (out / "README.md").exists()
    assert len(read_index(out)) == len(kinds)


def test_render_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    out.mkdir()
    mine = out / "08-deployment-gpt-oss-120b.yaml"
    mine.write_text("kind: Deployment  # mine\n", encoding="utf-8")
    result = run("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(out))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: ") and "was not written by swissai" in lines[0]
    assert lines[1].startswith("hint: ")
    assert [p.name for p in out.iterdir()] == [mine.name]  # nothing written or removed
    assert mine.read_text(encoding="utf-8") == "kind: Deployment  # mine\n"


def test_render_refuses_to_remove_a_file_edited_since(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    assert run("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(out)).exit_code == 0
    edited = out / "08-deployment-gpt-oss-120b.yaml"
    edited.write_text(edited.read_text(encoding="utf-8") + "# reviewed\n", encoding="utf-8")
    result = run("render", str(PLAN_MULTI), "--site", str(SITE), "--out", str(out))
    assert result.exit_code == 2 and "changed since" in result.stderr
    assert edited.read_text(encoding="utf-8").endswith("# reviewed\n")
    assert not any("leaderworkerset" in p.name for p in out.iterdir())


def test_render_helm_writes_a_chart_and_keeps_foreign_templates(tmp_path: Path) -> None:
    chart_dir = tmp_path / "c"
    (chart_dir / "templates").mkdir(parents=True)
    (chart_dir / "templates" / "extra.yaml").write_text("# mine\n", encoding="utf-8")
    result = run("render", str(PLAN_SINGLE), "--site", str(SITE), "--out", str(chart_dir), "--helm")
    assert result.exit_code == 0, result.stderr
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["name"] == "gpt-oss-120b" and chart["appVersion"] == "0.33.0"
    assert (chart_dir / "templates" / "workload.yaml").is_file()
    assert (chart_dir / "templates" / "extra.yaml").read_text(encoding="utf-8") == "# mine\n"
    schema = json.loads((chart_dir / "values.schema.json").read_text(encoding="utf-8"))
    assert schema["properties"]["replicas"]["type"] == "integer"
    assert "Helm chart" in result.stderr


def test_render_refuses_an_infeasible_plan_with_exit_4(tmp_path: Path) -> None:
    data = yaml.safe_load(PLAN_SINGLE.read_text(encoding="utf-8"))
    data["feasible"] = False
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("render", str(plan), "--site", str(SITE), "--out", str(tmp_path / "o"))
    assert result.exit_code == 4
    assert "does not fit" in result.stderr and not (tmp_path / "o").exists()


def test_render_bad_site_is_exit_2_with_the_key(tmp_path: Path) -> None:
    data = yaml.safe_load(SITE.read_text(encoding="utf-8"))
    data["image"]["digest"] = "v0.33.0"
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("render", str(PLAN_SINGLE), "--site", str(site))
    assert result.exit_code == 2
    assert "image.digest" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_injection_in_the_plan_is_exit_2(tmp_path: Path) -> None:
    data = yaml.safe_load(PLAN_SINGLE.read_text(encoding="utf-8"))
    data["model"]["id"] = "gpt-oss-120b\nkind: Secret"
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("render", str(plan), "--site", str(SITE), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert "model.id" in result.stderr and not (tmp_path / "o").exists()


@pytest.mark.parametrize("token", ["--trust-remote", "--enable-log-req", "--api-ke=s3cret"])
def test_render_refuses_abbreviated_forbidden_flags(token: str, tmp_path: Path) -> None:
    data = yaml.safe_load(PLAN_SINGLE.read_text(encoding="utf-8"))
    data["vllm"]["args"].append(token)
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = run("render", str(plan), "--site", str(SITE), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2
    assert token.split("=")[0] in result.stderr and "s3cret" not in result.stderr
    assert not (tmp_path / "o").exists()


def test_render_usage_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = run("render", str(PLAN_SINGLE), "--site", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "swissai init" in missing.stderr
    helm = run("render", str(PLAN_SINGLE), "--site", str(SITE), "--helm")
    assert helm.exit_code == 2 and "--out" in helm.stderr
    other = tmp_path / "plan.yaml"
    other.write_text("apiVersion: swissai/v0\nkind: ServePlan\n", encoding="utf-8")
    old = run("render", str(other), "--site", str(SITE))
    assert old.exit_code == 2 and "apiVersion" in old.stderr
    bad_output = run("render", str(PLAN_SINGLE), "--site", str(SITE), "-o", "sarif")
    assert bad_output.exit_code == 2
    # no --site: ./swissai.yaml when present (the one rule), else exit 2
    monkeypatch.chdir(tmp_path)
    none = run("render", str(PLAN_SINGLE))
    assert none.exit_code == 2 and "./swissai.yaml not found" in none.stderr
    (tmp_path / "swissai.yaml").write_text(SITE.read_text(encoding="utf-8"), encoding="utf-8")
    default = run("render", str(PLAN_SINGLE))
    assert default.exit_code == 0, default.stderr


def test_render_help_does_not_import_jinja_or_kubernetes() -> None:
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom swissai.cli.main import app\n"
        "r = CliRunner().invoke(app, ['render', '--help'])\nassert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in ('jinja2', 'kubernetes', 'helm_python') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- model manifest / verify --------------------------------------------------------------------


def _model(tmp_path: Path) -> Path:
    model = tmp_path / "gpt-oss-120b"
    (model / "tiktoken").mkdir(parents=True)
    (model / ".cache").mkdir()
    # not gpt_oss: for gpt-oss, `model verify` also checks MODEL_DIR/encodings against
    # tiktoken's pins and would (rightly) fail on the stand-in file below
    # (tests/unit/test_serve_model_manifest.py covers that)
    (model / "config.json").write_text('{"model_type": "llama"}\n', encoding="utf-8")
    (model / "model-00001.safetensors").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (model / "tiktoken" / "o200k_base.tiktoken").write_bytes(b"encoding")
    (model / ".cache" / "lock").write_text("hub metadata\n", encoding="utf-8")
    return model


def test_model_manifest_then_verify_detects_tampering(tmp_path: Path) -> None:
    model = _model(tmp_path)
    result = swissai("model", "manifest", str(model), "-o", "json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    manifest = (model / "SHA256SUMS").read_text(encoding="utf-8")
    assert info["sha256"] == hashlib.sha256(manifest.encode()).hexdigest()
    assert info["files"] == 3
    listed = [line.split("  ", 1)[1] for line in manifest.splitlines()]
    assert listed == ["config.json", "model-00001.safetensors", "tiktoken/o200k_base.tiktoken"]
    expected = hashlib.sha256((model / "config.json").read_bytes()).hexdigest()
    assert manifest.splitlines()[0] == f"{expected}  config.json"
    ok = swissai("model", "verify", str(model), "--sha256", info["sha256"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    again = swissai("model", "manifest", str(model))
    assert again.returncode == 2 and "--force" in again.stderr
    (model / "config.json").write_text('{"model_type": "evil"}\n', encoding="utf-8")
    (model / "extra.py").write_text("import os\n", encoding="utf-8")
    bad = swissai("model", "verify", str(model), "--sha256", info["sha256"])
    assert bad.returncode == 1
    assert "sha256 mismatch config.json" in bad.stdout and "unlisted file extra.py" in bad.stdout


def test_the_pod_script_runs_standalone_and_checks_required_files(tmp_path: Path) -> None:
    model = _model(tmp_path)
    info = json.loads(swissai("model", "manifest", str(model), "-o", "json").stdout)
    script = REPO / "templates" / "scripts" / "verify_model.py"
    env = {
        "MODEL_DIR": str(model),
        "MANIFEST_FILE": "SHA256SUMS",
        "MANIFEST_SHA256": info["sha256"],
        "PATH": os.environ.get("PATH", ""),
    }
    ok = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout
    env["REQUIRED_FILES"] = "tiktoken/o200k_base.tiktoken=" + "446a" * 16
    bad = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "required file tiktoken/o200k_base.tiktoken" in bad.stderr
    env["REQUIRED_FILES"] = ""
    env["MANIFEST_SHA256"] = "0" * 64
    pinned = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True)
    assert pinned.returncode == 1 and "pins" in pinned.stderr


def test_render_refuses_underscore_flags_and_hub_tokenizers_in_one_line(tmp_path: Path) -> None:
    data = yaml.safe_load(PLAN_MULTI.read_text(encoding="utf-8"))
    for extra, words in (
        (["--trust_remote_code"], "plan vllm.args --trust_remote_code: remote code"),
        (["--tokenizer", "deepseek-ai/DeepSeek-R1"], "--tokenizer deepseek-ai/DeepSeek-R1"),
    ):
        bad = {**data, "vllm": {**data["vllm"], "args": [*data["vllm"]["args"], *extra]}}
        plan = tmp_path / "plan.yaml"
        plan.write_text(yaml.safe_dump(bad), encoding="utf-8")
        result = swissai("render", str(plan), "--site", str(SITE), "--out", str(tmp_path / "o"))
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0].startswith("error: ") and words in lines[0]
        assert len(lines) == 2 and lines[1].startswith("hint: ")
        assert not (tmp_path / "o").exists()
