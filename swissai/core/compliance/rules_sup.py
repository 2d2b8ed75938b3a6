"""SUP: integrity and supply chain (catalog §5)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from swissai.core.compliance.context import (
    CheckContext,
    PodSpecRef,
    Results,
    as_dict,
    as_list,
    command_text,
    digest_valid,
    get,
    mount_for,
    parse_image,
    placeholder_message,
    placeholder_of,
)
from swissai.core.compliance.registry import rule


@rule(
    "SUP-001",
    title="Every image is pinned by digest",
    severity="high",
    targets=["manifests", "live", "site"],
    inspects="""Image references contain `@sha256:` and 64 hex digits (a tag alone fails);
    the all-zero digest `swissai init` writes as a placeholder fails, in the manifests and in
    the site profile's `image.digest`; `name:latest@sha256:...` passes with a low note. Live:
    the running `imageID` digest equals the pinned one.""",
    references=[
        "CKV_K8S_43",
        "CKV_K8S_14",
        "KL latest-tag",
        "KY require-image-checksum",
        "KY disallow-latest-tag",
        "FINMA-OR §IV.B",
        'FINMA-AI "Documentation"',
    ],
    remediation="Resolve tags to digests at plan or render time and pin `image@sha256:...`.",
)
def sup_001(ctx: CheckContext, r: Results) -> None:
    if ctx.site is not None:
        r.ok(ctx.site_subject)
        if "image.digest" in ctx.site.placeholders():
            r.fail(
                ctx.site_subject,
                "image.digest",
                placeholder_message("image.digest", "image.digest"),
            )
    for c in ctx.containers:
        if not c.image:
            continue
        s = ctx.subject(c.obj)
        r.ok(s)
        if placeholder_of(c.image) == "image.digest":
            r.fail(
                s,
                f"{c.path}.image",
                placeholder_message("image.digest", f"container {c.name}: the image digest"),
            )
        elif not digest_valid(c.image):
            r.fail(
                s, f"{c.path}.image", f"container {c.name}: image {c.image} is not pinned by digest"
            )
        elif parse_image(c.image).tag == "latest":
            r.fail(
                s,
                f"{c.path}.image",
                f"container {c.name}: misleading :latest tag beside the digest",
                severity="low",
            )
    for pod in ctx.live_pods:
        specs = {
            str(as_dict(c).get("name")): str(as_dict(c).get("image"))
            for c in as_list(get(pod.data, "spec.containers"))
        }
        for i, st in enumerate(as_list(get(pod.data, "status.containerStatuses"))):
            status = as_dict(st)
            image = specs.get(str(status.get("name")), "")
            image_id = str(status.get("imageID") or "")
            if (
                "@sha256:" in image
                and "@sha256:" in image_id
                and image.split("@")[-1] != image_id.split("@")[-1]
            ):
                r.fail(
                    ctx.subject(pod),
                    f"status.containerStatuses[{i}].imageID",
                    f"running digest {image_id.split('@')[-1][:19]}… differs from the pinned {image.split('@')[-1][:19]}…",
                )


VERIFY_KINDS = ("ClusterPolicy", "Policy", "ImageValidatingPolicy", "ClusterImagePolicy")


@rule(
    "SUP-002",
    title="Image signatures are verified at admission with institution-held keys",
    severity="high",
    targets=["live", "manifests", "site"],
    inspects="""An admission policy in Enforce mode verifies images: Kyverno `verifyImages` /
    `ImageValidatingPolicy` or sigstore `ClusterImagePolicy`. Keyless attestors or the public
    `rekor.sigstore.dev` / `fulcio.sigstore.dev` make admission depend on a foreign service.
    Without such an object in the inputs: high on a live cluster, otherwise evidence expected.""",
    references=["CIS 5.5.1", "KY verify-image", "NSA-K8s", "FINMA-OR §IV.C"],
    remediation="Sign images in the internal pipeline (cosign with a KMS key); verify at admission.",
    evidence="compliance.attestations.image_signature_policy when the policy lives outside the inputs.",
)
def sup_002(ctx: CheckContext, r: Results) -> None:
    found = []
    for obj in ctx.kind(*VERIFY_KINDS):
        is_kyverno = obj.api_version.startswith("kyverno.io") or obj.api_version.startswith(
            "policies.kyverno.io"
        )
        rules_ = as_list(get(obj.data, "spec.rules"))
        verifies = obj.kind in ("ImageValidatingPolicy", "ClusterImagePolicy") or any(
            as_dict(x).get("verifyImages") for x in rules_
        )
        if not verifies or (obj.kind in ("ClusterPolicy", "Policy") and not is_kyverno):
            continue
        found.append(obj)
        s = ctx.subject(obj)
        r.ok(s)
        text = repr(obj.data)
        for host in ("rekor.sigstore.dev", "fulcio.sigstore.dev"):
            if host in text:
                r.fail(s, "spec", f"verification depends on the public {host}")
        if "keyless" in text.lower():
            r.fail(
                s,
                "spec",
                "keyless attestors depend on public Fulcio/Rekor; use institution-held keys",
            )
        action = str(
            get(obj.data, "spec.validationFailureAction")
            or get(obj.data, "spec.validationActions")
            or ""
        )
        if (
            is_kyverno
            and obj.kind in ("ClusterPolicy", "Policy")
            and "enforce" not in action.lower()
        ):
            r.fail(s, "spec.validationFailureAction", "image verification is not in Enforce mode")
    if found or not ctx.serving:
        return
    if ctx.live:
        r.fail(
            ctx.missing("ClusterPolicy/(verify-images)", ctx.serving[0].obj),
            "",
            "no image-verification admission policy found in the cluster",
        )
    elif ctx.policy.attestations.image_signature_policy is None:
        r.missing_evidence(
            ctx.site_path("attestations.image_signature_policy"),
            "no image-verification admission policy in the inputs and none attested",
            "a Kyverno verifyImages policy in the inputs, --cluster, or "
            "compliance.attestations.image_signature_policy",
        )
    else:
        r.ok(ctx.site_subject)


MODEL_PIN_KEYS = ("swissai.io/model-revision", "swissai.io/model-manifest-digest")
MODEL_PIN_ENV = ("MANIFEST_SHA256", "MODEL_REVISION")


def _pinning_values(pod: PodSpecRef) -> Iterator[tuple[str, str, str]]:
    """(field path, what it is in words, value) of the model pins a render writes into a pod: the pod template's
    revision label and manifest annotation, and the verify container's env."""
    meta = pod.path.rsplit(".", 1)[0] + ".metadata" if pod.path != "spec" else "metadata"
    for section in ("labels", "annotations"):
        values = as_dict(get(pod.obj.data, f"{meta}.{section}"))
        for key in MODEL_PIN_KEYS:
            if isinstance(values.get(key), str):
                yield f'{meta}.{section}["{key}"]', f"{section[:-1]} {key}", values[key]
    for key in ("initContainers", "containers"):
        for i, c in enumerate(as_list(pod.spec.get(key))):
            for j, e in enumerate(as_list(as_dict(c).get("env"))):
                env = as_dict(e)
                if env.get("name") in MODEL_PIN_ENV and isinstance(env.get("value"), str):
                    name = str(env["name"])
                    yield f"{pod.path}.{key}[{i}].env[{j}]", f"env {name}", str(env["value"])


_HEX40 = re.compile(r"^[0-9a-f]{40}$")
VERIFY_MARKERS = (
    "verify-model",
    "verify_model",
    "sha256sum -c",
    "sha256sum --check",
    "shasum -a 256 -c",
)


@rule(
    "SUP-003",
    title="Model artefacts are pinned to a revision and verified against a sha256 manifest",
    severity="critical",
    targets=["site", "manifests", "live"],
    inspects="""`compliance.model` names the source, a 40-hex revision (not `main`), the
    license and the sha256 file manifest (with its own sha256). The all-zero revision and
    manifest sha256 `swissai init` writes as placeholders fail, in the site profile and in the
    manifests rendered from it (labels, annotations, the verify container's env). Serving pods run an init
    container that verifies the model volume against the manifest before vLLM starts
    (`swissai verify-model` or `sha256sum -c`). Live: that init container completed.""",
    references=[
        'FINMA-AI "Data quality"',
        'FINMA-AI "Documentation"',
        'FINMA-AI "Independent review"',
        "FINMA-OR §IV.B",
        "FINMA-OR §IV.D",
        "DPO 2",
        "DPO 3(2)(b)",
        "vLLM-SEC (Cache Directory Security)",
    ],
    remediation="Stage the model with a manifest (swissai model stage); add the verify init container.",
    evidence="compliance.model (source, revision, license, manifest with sha256).",
)
def sup_003(ctx: CheckContext, r: Results) -> None:
    model = ctx.policy.model
    site = ctx.site_subject
    if model is not None:
        r.ok(site)
        if not _HEX40.match(model.revision):
            r.fail(
                site,
                ctx.site_path("model.revision"),
                f"model revision {model.revision or '(none)'} is not a 40-hex commit",
            )
        if model.manifest is None or not model.manifest.sha256:
            r.fail(
                site,
                ctx.site_path("model.manifest"),
                "the model file manifest or its sha256 is missing",
            )
        if not model.license:
            r.fail(
                site,
                ctx.site_path("model.license"),
                "the model license is not recorded",
                severity="medium",
            )
    elif ctx.site is not None and {"model.revision", "model.manifest_sha256"} & set(
        ctx.site.placeholders()
    ):
        r.ok(site)
        for key in ("model.revision", "model.manifest_sha256"):
            if key in ctx.site.placeholders():
                r.fail(site, key, placeholder_message(key, key), severity="high")
    elif ctx.site is not None:
        r.ok(site)  # the site profile pins revision and manifest sha256 (SiteProfile validates)
    elif ctx.serving or ctx.plan is not None:
        r.missing_evidence(
            ctx.site_path("model"),
            "the model revision and its sha256 file manifest are not declared (or still the example values)",
            "model.revision and model.manifest_sha256 in the site profile, or compliance.model",
        )
    for pod in ctx.serving_pods:
        for path, where, value in _pinning_values(pod):
            what = placeholder_of(value)
            if what in ("model.revision", "model.manifest_sha256"):
                r.fail(
                    ctx.subject(pod.obj),
                    path,
                    placeholder_message(what, where),
                    severity="high",
                )
    for pod in ctx.serving_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        inits = [as_dict(c) for c in as_list(pod.spec.get("initContainers"))]
        if not any(
            any(m in f"{command_text(c)} {c.get('name')}" for m in VERIFY_MARKERS) for c in inits
        ):
            r.fail(
                s,
                f"{pod.path}.initContainers",
                "no init container verifies the model files against the sha256 manifest before vLLM starts",
            )


CACHE_ENV = (
    "VLLM_CACHE_ROOT",
    "HF_HOME",
    "TRITON_CACHE_DIR",
    "TORCHINDUCTOR_CACHE_DIR",
    "FLASHINFER_WORKSPACE_BASE",
    "XDG_CACHE_HOME",
)


@rule(
    "SUP-004",
    title="Model store read-only; caches private to the pod",
    severity="high",
    targets=["manifests", "live"],
    inspects="""The volume holding the model is mounted `readOnly: true` in the vLLM container
    (a writable claim without ReadOnlyMany is a medium note). Cache paths (`VLLM_CACHE_ROOT`,
    `HF_HOME`, `TRITON_CACHE_DIR`, `TORCHINDUCTOR_CACHE_DIR`, FlashInfer) are emptyDir or a
    claim no other workload mounts; never hostPath.""",
    references=[
        "vLLM-SEC (Cache Directory Security)",
        "DPO 3(2)(b)",
        "FINMA-OR §IV.D",
        "KL writable-host-mount",
        "KY ensure-readonly-hostpath",
    ],
    remediation="Mount /models read-only; give each pod its own emptyDir caches.",
)
def sup_004(ctx: CheckContext, r: Results) -> None:
    claim_users: dict[tuple[str | None, str], set[str]] = {}
    for pod in ctx.pod_specs:
        for v in as_list(pod.spec.get("volumes")):
            claim = get(v, "persistentVolumeClaim.claimName")
            if claim:
                claim_users.setdefault((pod.namespace, str(claim)), set()).add(pod.obj.ref)
    pvcs = {(p.namespace, p.name): p for p in ctx.kind("PersistentVolumeClaim")}
    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        volumes = {
            str(as_dict(v).get("name")): as_dict(v) for v in as_list(c.pod.spec.get("volumes"))
        }
        model = c.vllm.model
        if model and model.startswith("/"):
            found = mount_for(c, model)
            if found is not None:
                i, mount = found
                if mount.get("readOnly") is not True:
                    r.fail(
                        s,
                        f"{c.path}.volumeMounts[{i}].readOnly",
                        f"container {c.name}: the model volume {mount.get('mountPath')} is writable",
                    )
                volume = volumes.get(str(mount.get("name")), {})
                claim = get(volume, "persistentVolumeClaim.claimName")
                pvc = pvcs.get((c.pod.namespace, str(claim))) if claim else None
                if (
                    pvc is not None
                    and "ReadOnlyMany"
                    not in [str(m) for m in as_list(get(pvc.data, "spec.accessModes"))]
                    and get(volume, "persistentVolumeClaim.readOnly") is not True
                ):
                    r.fail(
                        ctx.subject(pvc),
                        "spec.accessModes",
                        f"model claim {pvc.name} is writable (not ReadOnlyMany)",
                        severity="medium",
                    )
        for name in CACHE_ENV:
            path = c.env_value(name)
            if not path or not path.startswith("/"):
                continue
            found = mount_for(c, path)
            if found is None:
                continue
            i, mount = found
            volume = volumes.get(str(mount.get("name")), {})
            if "hostPath" in volume:
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{i}]",
                    f"container {c.name}: cache {name}={path} is on a hostPath",
                )
            claim = get(volume, "persistentVolumeClaim.claimName")
            users = claim_users.get((c.pod.namespace, str(claim)), set()) if claim else set()
            if len(users) > 1:
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{i}]",
                    f"container {c.name}: cache claim {claim} is shared with {', '.join(sorted(users - {c.obj.ref}))}",
                )


@rule(
    "SUP-005",
    title="SBOM and recent vulnerability scan for every image",
    severity="medium",
    targets=["site"],
    inspects="""`compliance.images[]` has, for every image the manifests run, an SBOM
    reference and a scan report no older than `scan_max_age_days`; critical vulnerabilities
    with a fix available raise the finding to high.""",
    references=[
        "DPO 3(2)(f)",
        "FINMA-OR §IV.C",
        "NSA-K8s (scan images)",
        "KY verify-sbom-cyclonedx",
    ],
    remediation="Generate SBOMs and scans in the image pipeline; attach them as attestations.",
    evidence="compliance.images: image, sbom {ref, sha256}, scan {ref, date}.",
)
def sup_005(ctx: CheckContext, r: Results) -> None:
    declared = {e.image: (i, e) for i, e in enumerate(ctx.policy.images)}
    images = sorted({c.image for c in ctx.containers if c.image})
    if not declared:
        if images:
            r.missing_evidence(
                ctx.site_path("images"),
                f"no SBOM or scan evidence for {len(images)} image(s)",
                "compliance.images: one entry per image with sbom and scan",
            )
        return
    site = ctx.site_subject
    r.ok(site)
    for image in images:
        entry = declared.get(image) or next(
            (v for k, v in declared.items() if "@" in k and image.endswith(k.split("@")[-1])), None
        )
        if entry is None:
            r.fail(site, ctx.site_path("images"), f"no SBOM/scan evidence declared for {image}")
            continue
        i, e = entry
        if e.sbom is None:
            r.fail(site, ctx.site_path(f"images[{i}].sbom"), f"{image}: no SBOM reference")
        if e.scan is None or not ctx.evidence_date_ok(e.scan.date, ctx.policy.scan_max_age_days):
            r.fail(
                site,
                ctx.site_path(f"images[{i}].scan"),
                f"{image}: no scan within {ctx.policy.scan_max_age_days} days",
            )
        if e.critical_vulnerabilities_with_fix > 0:
            r.fail(
                site,
                ctx.site_path(f"images[{i}].critical_vulnerabilities_with_fix"),
                f"{image}: {e.critical_vulnerabilities_with_fix} critical vulnerabilities with a fix available",
                severity="high",
            )
