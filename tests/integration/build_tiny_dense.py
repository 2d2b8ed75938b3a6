"""A tiny dense Llama (2 layers, hidden 64) for the LoRA test, built at test time with random
weights and the tiny gpt-oss's tokenizer files (tests/integration/build_tiny_models.py).

Why dense: vLLM 0.32's CPU backend runs every MoE layer through its Triton kernel as soon as
LoRA is enabled (fused_moe/oracle/unquantized.py `select_unquantized_moe_backend`), and Triton
has no CPU target; a dense base model is what vLLM CPU can serve with adapters.

    .venv-vllm/bin/python tests/integration/build_tiny_dense.py TOKENIZER_DIR OUT_DIR
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "chat_template.jinja",
)


def build_dense(tokenizer_dir: Path, out: Path) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    source = json.loads((tokenizer_dir / "config.json").read_text())
    config = LlamaConfig(
        vocab_size=source["vocab_size"],
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=4096,
        bos_token_id=source.get("bos_token_id"),
        eos_token_id=source.get("eos_token_id"),
        pad_token_id=source.get("pad_token_id"),
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (tokenizer_dir / name).is_file():
            shutil.copy(tokenizer_dir / name, out / name)
    return out


if __name__ == "__main__":
    print(build_dense(Path(sys.argv[1]), Path(sys.argv[2])))
