"""Build a tiny offline gpt-oss with random weights for the real-vLLM integration tests.

Runs inside .venv-vllm (transformers, tokenizers, tiktoken, openai_harmony, torch), never in
swissai's own venv:

    .venv-vllm/bin/python tests/integration/build_tiny_models.py OUT_DIR

Writes OUT_DIR/tiny-gpt-oss: GptOssForCausalLM (hidden 64, 2 layers: one sliding and one full
attention, 2 heads of head_dim 32 (the CPU attention backend needs 32 or 64), 1 KV head,
4 experts top-2, bfloat16) with the real o200k_harmony vocabulary (201,088 tokens), so that
vLLM's harmony renderer (chat completions, responses, tool calls) works against it: with a
small vocabulary vLLM refuses chat with "Token id 200008 is out of vocabulary".

No download: the `oss-harmony` wheel (a vLLM dependency) embeds the o200k vocabulary. The
199,998 BPE ranks are read back with `decode_bytes`, written in tiktoken's file format,
converted to a `tokenizers` BPE with transformers' TikTokenConverter (o200k regex from
tiktoken_ext/openai_public.py), and the harmony special tokens 199998-201087 are added with
their harmony names. The result must encode like harmony itself, checked before saving.
Measured: about 17 s, 0.9 GB RSS, 77 MB on disk (the project's real_components.md, section B).

Prints one JSON line: {"tiny-gpt-oss": DIR}.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

O200K_RANKS = 199_998  # ordinary BPE tokens; 199998.. are special
# The tiny gpt-oss's architecture; tests/unit/test_startup_log.py plans the same shape.
TINY_GPT_OSS_SHAPE: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "num_local_experts": 4,
    "num_experts_per_tok": 2,
    "layer_types": ["sliding_attention", "full_attention"],
}
VOCAB_SIZE = 201_088  # o200k_harmony: ranks + 1,090 special tokens (gpt-oss's vocab_size)
# tiktoken_ext/openai_public.py, o200k_base
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
# gpt-oss's ids (openai/gpt-oss-* config.json / generation_config.json) and harmony's
BOS, PAD, RETURN, CALL = 199_998, 199_999, 200_002, 200_012  # <|startoftext|> <|endoftext|> ..
CHANNEL, MESSAGE = 200_005, 200_008  # <|channel|> <|message|>
# What the model answers after harmony's generation prompt `<|start|>assistant`: one message on
# the analysis (reasoning) channel, ended by <|return|>. vLLM's harmony parser returns it as
# `message.reasoning`; the text is checked by the integration tests.
REASONING = "Greeting the user back"
# Only used by plain HF chat templating; vLLM renders gpt-oss chat with harmony itself.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|start|>{{ message['role'] }}<|message|>"
    "{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|start|>assistant{% endif %}"
)
PROBES = ["Hello world", "Zurich, Bern and Geneva: 1234 tokens!\n  indented  text"]


def build_tokenizer(out: Path) -> None:
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    harmony = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    decode = harmony._inner.decode_bytes
    special = [bytes(decode([i])).decode() for i in range(O200K_RANKS, VOCAB_SIZE)]
    assert special[0] == "<|startoftext|>" and special[-1] == "<|reserved_201087|>", special[:3]
    with tempfile.TemporaryDirectory() as tmp:
        # tiktoken's format, "base64(token) rank" per line; the converter reads it back with
        # tiktoken.load (a local path: no blobfile, no network)
        ranks = Path(tmp) / "o200k_base.tiktoken"
        ranks.write_text(
            "".join(
                base64.b64encode(bytes(decode([rank]))).decode() + f" {rank}\n"
                for rank in range(O200K_RANKS)
            )
        )
        converted = TikTokenConverter(
            vocab_file=str(ranks), pattern=O200K_PATTERN, extra_special_tokens=special
        ).converted()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=converted,
        bos_token="<|startoftext|>",
        eos_token="<|return|>",
        pad_token="<|endoftext|>",
        model_max_length=131_072,
    )
    fast.chat_template = CHAT_TEMPLATE
    assert len(fast) == VOCAB_SIZE, len(fast)
    for text in PROBES:  # the rebuilt tokenizer encodes exactly as harmony does
        assert fast.encode(text, add_special_tokens=False) == harmony.encode(text), text
    assert fast.convert_tokens_to_ids(["<|start|>", "<|message|>", "<|call|>"]) == [
        200_006,
        200_008,
        CALL,
    ]
    fast.save_pretrained(out)


def build_gpt_oss(out: Path) -> None:
    import torch
    from transformers import GenerationConfig, GptOssConfig, GptOssForCausalLM

    torch.manual_seed(0)
    build_tokenizer(out)
    config = GptOssConfig(
        vocab_size=VOCAB_SIZE,
        **TINY_GPT_OSS_SHAPE,
        sliding_window=128,
        max_position_embeddings=4096,
        bos_token_id=BOS,
        eos_token_id=RETURN,
        pad_token_id=PAD,
        tie_word_embeddings=False,
        torch_dtype="bfloat16",
    )
    model = GptOssForCausalLM(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=BOS, eos_token_id=[RETURN, PAD, CALL], pad_token_id=PAD
    )
    answer_in_harmony(model)
    model.save_pretrained(out, safe_serialization=True)


def answer_in_harmony(model: Any) -> None:
    """Make the random model a deterministic bigram model along one harmony chain.

    Attention and expert outputs are zeroed (o_proj, down_proj and their biases), so the last
    hidden state is RMSNorm(embedding of the current token). Each token of the chain gets its
    own basis vector as embedding and the lm_head row of its successor points along it: at
    temperature 0 the model answers `<|channel|>analysis<|message|>REASONING<|return|>` to any
    prompt that ends in `assistant` (every harmony chat prompt). The chain owns the first
    len(chain) - 1 hidden axes (zero in every other embedding and lm_head row), so after any other
    token the model stays a random one (it enters the chain only if it happens to produce one of
    the chain's tokens)."""
    import torch
    from openai_harmony import HarmonyEncodingName, load_harmony_encoding

    harmony = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)
    [assistant] = harmony.encode("assistant")
    chain = [
        assistant, CHANNEL, *harmony.encode("analysis"), MESSAGE, *harmony.encode(REASONING),
        RETURN,
    ]  # fmt: skip
    sources = chain[:-1]
    hidden = model.config.hidden_size
    assert len(set(sources)) == len(sources) <= hidden, "each token needs one successor"
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.self_attn.o_proj.bias.zero_()
            layer.mlp.experts.down_proj.zero_()
            layer.mlp.experts.down_proj_bias.zero_()
        embed, head = model.model.embed_tokens.weight, model.lm_head.weight
        # axes 0..n-1 belong to the chain alone: every other token keeps its random
        # embedding and lm_head row on the remaining axes (and no path into the chain)
        embed[:, : len(sources)] = 0.0
        head[:, : len(sources)] = 0.0
        for k, (token, successor) in enumerate(zip(sources, chain[1:], strict=True)):
            embed[token] = 0.0
            embed[token, k] = 1.0  # RMSNorm scales it to sqrt(hidden) along axis k
            head[successor] = 0.0
            head[successor, k] = 4.0  # logit 32; every other logit after it is 0
    assert bool((model.model.norm.weight == 1).all()), "RMSNorm weights must start at 1"
    # check with transformers' own forward pass before saving
    prompt = harmony.encode(
        "<|start|>user<|message|>Say hello.<|end|><|start|>assistant", allowed_special="all"
    )
    ids = torch.tensor([prompt])
    out = model.generate(ids, max_new_tokens=len(chain), do_sample=False, eos_token_id=RETURN)
    assert out[0, len(prompt) :].tolist() == chain[1:], out[0, len(prompt) :].tolist()
    plain = harmony.encode("Hello world")  # no harmony header: random tokens, no <|return|>
    out = model.generate(torch.tensor([plain]), max_new_tokens=8, do_sample=False)
    assert RETURN not in out[0, len(plain) :].tolist(), out[0, len(plain) :].tolist()


def main() -> None:
    root = Path(sys.argv[1])
    out = root / "tiny-gpt-oss"
    out.mkdir(parents=True, exist_ok=True)
    build_gpt_oss(out)
    print(json.dumps({"tiny-gpt-oss": str(out)}))


if __name__ == "__main__":
    main()
