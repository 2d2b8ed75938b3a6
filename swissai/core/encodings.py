"""The gpt-oss (harmony) tiktoken encodings: one location, one table of hashes (RES-007).

harmony loads `o200k_base.tiktoken` from TIKTOKEN_ENCODINGS_BASE and otherwise downloads it
from openaipublic.blob.core.windows.net. swissai stages the encodings in one place for every
path through it: the `encodings/` folder inside the model directory (MODEL_DIR/encodings on a
workstation, /models/<model>/encodings in a pod), so the model's sha256 manifest covers them
and one volume carries both. `serve`, `render`, the site profile default, `model verify` and
rule RES-007 all use `ENCODINGS_SUBDIR` and `TIKTOKEN_SHA256` from here.

The hashes are the ones tiktoken itself pins (tiktoken_ext/openai_public.py,
`expected_hash`), so a file that is not the published one is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

ENCODINGS_SUBDIR = "encodings"
TIKTOKEN_SHA256: dict[str, str] = {
    "o200k_base.tiktoken": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base.tiktoken": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}
# what gpt-oss needs; cl100k_base is checked when present
TIKTOKEN_REQUIRED = ("o200k_base.tiktoken",)
ENCODINGS_ENV = ("TIKTOKEN_ENCODINGS_BASE", "TIKTOKEN_RS_CACHE_DIR")


def encoding_problems(found_sha256: Mapping[str, str | None]) -> list[str]:
    """Problems of a staged encodings folder, given {file name: sha256, or None when absent}:
    a required file missing, or any file whose hash is not tiktoken's."""
    problems = []
    for name, want in TIKTOKEN_SHA256.items():
        got = found_sha256.get(name)
        if got is None:
            if name in TIKTOKEN_REQUIRED:
                problems.append(f"{ENCODINGS_SUBDIR}/{name} is missing")
            continue
        if got != want:
            problems.append(
                f"{ENCODINGS_SUBDIR}/{name} has sha256 {got[:16]}..., tiktoken pins {want[:16]}..."
            )
    return problems
