#!/usr/bin/env python3
"""Write o200k_base.tiktoken offline from the o200k vocabulary embedded in openai_harmony.

gpt-oss (harmony) loads o200k_base.tiktoken from TIKTOKEN_ENCODINGS_BASE and would otherwise
download it. The `oss-harmony` wheel (a vLLM dependency) embeds the vocabulary; this script
writes it in tiktoken's format ("base64(token) rank" per line) and checks that the sha256 is the
one tiktoken pins. Run it with a Python that has vLLM (or oss-harmony) installed:

    .venv-vllm/bin/python scripts/stage-gpt-oss-encodings.py /models/encodings

Exit 1 if the result does not match the pinned sha256 (then copy the file from a connected
machine instead; see docs/serve.md).
"""

from __future__ import annotations

import base64
import hashlib
import sys
from pathlib import Path

O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
O200K_RANKS = 199_998  # ordinary tokens; the special tokens are not part of the file


def main() -> int:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "encodings")
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    enc = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    data = "".join(
        base64.b64encode(bytes(enc._inner.decode_bytes([rank]))).decode() + f" {rank}\n"
        for rank in range(O200K_RANKS)
    ).encode()
    digest = hashlib.sha256(data).hexdigest()
    if digest != O200K_SHA256:
        print(f"sha256 {digest} is not the pinned {O200K_SHA256}", file=sys.stderr)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "o200k_base.tiktoken").write_bytes(data)
    print(f"{out_dir / 'o200k_base.tiktoken'}: sha256 {digest} (matches tiktoken's pin)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
