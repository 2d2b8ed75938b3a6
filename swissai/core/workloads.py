"""Workload profiles for `swissai bench`: prompt and output lengths, clipped to the server.

Pure: no I/O. Prompt text is built from a fixed word list with a seeded generator, so a run
is reproducible. The client has no tokenizer (the model may be anywhere), so the number of
words per token is calibrated from the server's own `usage` on the warm-up requests; the
token counts reported by the benchmark always come from `usage`, never from this estimate.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# Tokens kept free of the context window for the chat template, BOS and rounding of the
# words-per-token calibration.
CONTEXT_MARGIN_FRACTION = 0.10
CONTEXT_MARGIN_MIN = 8


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    input_tokens: int
    output_tokens: int
    range_ratio: float  # lengths drawn uniformly in [len x (1 - r), len x (1 + r)]


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("chat", "interactive chat: short prompts, medium answers", 512, 256, 0.5),
        Profile("rag", "retrieval-augmented: long context, short answers", 8192, 256, 0.25),
        Profile(
            "summarize", "batch summarisation: long documents, medium summaries", 4096, 512, 0.25
        ),
    )
}


@dataclass(frozen=True)
class Lengths:
    input_tokens: int
    output_tokens: int
    clipped: bool


def clip_to_context(input_tokens: int, output_tokens: int, max_model_len: int | None) -> Lengths:
    """Fit prompt + output into max_model_len less a margin, shrinking both in proportion so
    the profile keeps its shape (each stays at least 1 token)."""
    if input_tokens < 1 or output_tokens < 1:
        raise ValueError("lengths must be at least 1 token")
    if max_model_len is None:
        return Lengths(input_tokens, output_tokens, False)
    margin = max(CONTEXT_MARGIN_MIN, math.ceil(max_model_len * CONTEXT_MARGIN_FRACTION))
    budget = max_model_len - margin
    if budget < 2:
        raise ValueError(f"max_model_len {max_model_len} leaves no room for a request")
    if input_tokens + output_tokens <= budget:
        return Lengths(input_tokens, output_tokens, False)
    scale = budget / (input_tokens + output_tokens)
    out = max(1, math.floor(output_tokens * scale))
    inp = max(1, min(math.floor(input_tokens * scale), budget - out))
    return Lengths(inp, out, True)


@dataclass(frozen=True)
class RequestSpec:
    """One request of the workload: the prompt text and the tokens asked for."""

    prompt: str
    target_input_tokens: int
    max_tokens: int


# A neutral vocabulary of common words (mostly one token each in large BPE vocabularies).
_WORD_TEXT = (
    "the of and to in is for on that with as by this from at are be or an it report bank "
    "client account risk market rate credit loan fund asset value price share bond year "
    "quarter policy capital interest payment balance contract term review audit model data "
    "system process control limit total amount income cost growth return time period group "
    "service customer product region branch office team plan level result note change"
)
WORDS = tuple(_WORD_TEXT.split())


def words_for_tokens(tokens: int, tokens_per_word: float) -> int:
    if tokens_per_word <= 0:
        raise ValueError("tokens_per_word must be positive")
    return max(1, math.floor(tokens / tokens_per_word))


def prompt_text(n_words: int, rng: random.Random) -> str:
    """n_words words of plausible report text, ending in a 3-word instruction (at least
    those 3 words)."""
    body = " ".join(rng.choice(WORDS) for _ in range(max(0, n_words - 3)))
    return (body + " Summarise the above.").strip()


def build_requests(
    profile: Profile,
    count: int,
    *,
    max_model_len: int | None,
    tokens_per_word: float,
    seed: int = 0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> tuple[list[RequestSpec], Lengths]:
    """`count` requests of the profile (or the given lengths), clipped to the context window.

    Each request's lengths are drawn in the profile's range, then clipped again, so no request
    asks for more than max_model_len. Returns the requests and the clipped mean lengths."""
    if count < 0:
        raise ValueError("count must be non-negative")
    mean_in = input_tokens or profile.input_tokens
    mean_out = output_tokens or profile.output_tokens
    base = clip_to_context(mean_in, mean_out, max_model_len)
    rng = random.Random(seed)
    specs: list[RequestSpec] = []
    r = profile.range_ratio if input_tokens is None and output_tokens is None else 0.0
    for _ in range(count):
        want_in = max(1, round(base.input_tokens * rng.uniform(1 - r, 1 + r)))
        want_out = max(1, round(base.output_tokens * rng.uniform(1 - r, 1 + r)))
        lengths = clip_to_context(want_in, want_out, max_model_len)
        words = words_for_tokens(lengths.input_tokens, tokens_per_word)
        specs.append(
            RequestSpec(prompt_text(words, rng), lengths.input_tokens, lengths.output_tokens)
        )
    return specs, base


def calibrate_tokens_per_word(prompt_words: int, prompt_tokens: int) -> float:
    """Tokens per word measured on a warm-up prompt (from the server's usage)."""
    if prompt_words < 1 or prompt_tokens < 1:
        raise ValueError("calibration needs a non-empty prompt and a token count")
    return prompt_tokens / prompt_words
