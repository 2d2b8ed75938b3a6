"""A CI job in Python: plan, site profile, render, check; fail the job on findings."""

from pathlib import Path

import swissai

plan = swissai.plan("gpt-oss-120b", gpus="8xh100-80gb")
swissai.write_plan(plan, "plan.yaml")

site = swissai.init(
    "swissai.yaml",
    registry="registry.bank.ch",
    owner="AI Platform <ai-platform@bank.ch>",
    inventory_id="AI-0042",
)
print("replace before production:", site.placeholders())
# What an operator does in an editor: the mirror's image digest, the weights' commit and the
# sha256 that `swissai model manifest DIR` printed.
profile = Path("swissai.yaml")
text = profile.read_text()
for placeholder, value in [
    ("sha256:" + "0" * 64, "sha256:" + "4e5c1f0bd2a4b3c6d8e9f0a1b2c3d4e5" * 2),
    ("0" * 64, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
    ("0" * 40, "b5c1e6d2a9f04c3b8e7d6a5f4c3b2a1908f7e6d5"),
]:
    text = text.replace(placeholder, value)
profile.write_text(text)
assert swissai.read_site(profile).placeholders() == []

rendered = swissai.render(plan, profile, out="manifests")
print(len(rendered.objects), "objects written:", ", ".join(rendered.written[:3]), "...")

report = swissai.check(["manifests"], plan="plan.yaml", site=profile, fail_on="high")
for finding in report.findings:
    if finding.severity in ("critical", "high") and not finding.waived:
        print(finding.rule_id, finding.object, finding.message)
assert not report.failed  # the CLI exits 1 here: `swissai check --fail-on high`
