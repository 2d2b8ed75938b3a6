"""A tiny PEFT LoRA adapter for the tiny gpt-oss (build_tiny_models.py), written at test time
with the standard library only: adapter_config.json and adapter_model.safetensors (the
safetensors layout: 8-byte little-endian header length, a JSON header with dtype, shape and
byte offsets per tensor, then the raw little-endian data).

The tiny model's attention output projections are zero (that is what makes its answers
deterministic), so a LoRA on `o_proj` is the one change that moves every hidden state: the
adapter's answers differ from the base model's for the same prompt at temperature 0."""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

RANK = 8
TARGET = "o_proj"


def write_safetensors(path: Path, tensors: dict[str, tuple[list[int], list[float]]]) -> None:
    header: dict[str, object] = {}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        shape, values = tensors[name]
        data = struct.pack(f"<{len(values)}f", *values)
        header[name] = {
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format aligns the data to 8 bytes
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def build_lora(base_model: Path, out: Path, seed: int = 7) -> Path:
    config = json.loads((base_model / "config.json").read_text())
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"]) * int(config["head_dim"])
    layers = int(config["num_hidden_layers"])
    rng = random.Random(seed)
    tensors: dict[str, tuple[list[int], list[float]]] = {}
    for i in range(layers):
        prefix = f"base_model.model.model.layers.{i}.self_attn.{TARGET}"
        # o_proj maps the attention heads (heads x head_dim) to the hidden size
        tensors[f"{prefix}.lora_A.weight"] = (
            [RANK, heads],
            [rng.gauss(0.0, 1.0) for _ in range(RANK * heads)],
        )
        tensors[f"{prefix}.lora_B.weight"] = (
            [hidden, RANK],
            [rng.gauss(0.0, 1.0) for _ in range(hidden * RANK)],
        )
    out.mkdir(parents=True, exist_ok=True)
    write_safetensors(out / "adapter_model.safetensors", tensors)
    (out / "adapter_config.json").write_text(
        json.dumps(
            {
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "r": RANK,
                "lora_alpha": 2 * RANK,
                "lora_dropout": 0.0,
                "bias": "none",
                "target_modules": [TARGET],
                "base_model_name_or_path": str(base_model),
                "fan_in_fan_out": False,
                "inference_mode": True,
            },
            indent=2,
        )
    )
    return out


if __name__ == "__main__":
    print(build_lora(Path(sys.argv[1]), Path(sys.argv[2])))
