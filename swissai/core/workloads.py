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


# --- arrivals, sessions, tool calls, mixes (issue 17) -------------------------------------------

CHAT_ONLY = ("sessions", "tools")  # profiles that need /v1/chat/completions


@dataclass(frozen=True)
class SessionShape:
    """Multi-turn chat sessions sharing one system prompt: every turn resends the whole
    conversation, so later turns and other sessions share a prefix the server can cache
    (vLLM automatic prefix caching). Assistant turns are synthetic text of the output length:
    the prefix is what matters, and it stays identical from turn to turn."""

    system_tokens: int = 1024
    turns: int = 4
    user_tokens: int = 128


SESSION_SHAPE = SessionShape()
TOOL_PROMPT_TOKENS = 256
TOOL_OUTPUT_TOKENS = 128
# A tool a bank's assistant would call (OpenAI function-calling schema, as gpt-oss takes it
# through vLLM's harmony renderer).
BANK_TOOLS: tuple[dict[str, object], ...] = (
    {
        "type": "function",
        "function": {
            "name": "get_fx_rate",
            "description": "Current exchange rate between two ISO 4217 currencies.",
            "parameters": {
                "type": "object",
                "properties": {
                    "base": {"type": "string", "description": "e.g. CHF"},
                    "quote": {"type": "string", "description": "e.g. EUR"},
                },
                "required": ["base", "quote"],
            },
        },
    },
)

PROFILES.update(
    {
        "sessions": Profile(
            "sessions",
            "multi-turn chat sessions with a shared system prompt (prefix caching visible)",
            SESSION_SHAPE.system_tokens + SESSION_SHAPE.user_tokens,
            256,
            0.25,
        ),
        "tools": Profile(
            "tools",
            "gpt-oss tool calling: a bank tool offered, the model decides to call it",
            TOOL_PROMPT_TOKENS,
            TOOL_OUTPUT_TOKENS,
            0.25,
        ),
    }
)


@dataclass(frozen=True)
class WorkItem:
    """One unit of load: requests sent one after another (a session's turns; usually one).
    `bodies` are OpenAI request bodies without model/stream fields (the caller adds them)."""

    api: str  # "chat" or "completions"
    bodies: tuple[dict[str, object], ...]
    send_at_s: float = 0.0  # seconds after the level starts; 0 = when a slot is free
    kind: str = ""
    input_tokens: int = 0  # asked for, first request (for the workload summary)
    output_tokens: int = 0


def parse_mix(text: str) -> dict[str, float]:
    """`chat=3,rag=1,tools=1` -> normalised weights; ValueError with the reason."""
    weights: dict[str, float] = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        name, sep, value = part.partition("=")
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r} (use {', '.join(PROFILES)})")
        try:
            weight = float(value) if sep else 1.0
        except ValueError:
            raise ValueError(f"weight of {name} is not a number: {value!r}") from None
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"weight of {name} must be a positive number")
        weights[name] = weights.get(name, 0.0) + weight
    if not weights:
        raise ValueError("no profile named")
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()}


def arrival_offsets(
    count: int, request_rate: float, burstiness: float, rng: random.Random
) -> list[float]:
    """Send times (s after the start) as `vllm bench serve --request-rate R --burstiness B`:
    gaps drawn from a gamma distribution with shape B and mean 1/R (B = 1: Poisson; B < 1
    burstier; B > 1 more regular). R = inf: all at once (0.0). Source: vllm/benchmarks/serve.py,
    get_request. The first request leaves at the start."""
    if count < 0:
        raise ValueError("count must be non-negative")
    if request_rate <= 0 or burstiness <= 0 or math.isnan(request_rate):
        raise ValueError("request rate and burstiness must be positive")
    if math.isinf(request_rate):
        return [0.0] * count
    theta = 1.0 / (request_rate * burstiness)
    t = 0.0
    out: list[float] = []
    for i in range(count):
        if i:
            t += rng.gammavariate(burstiness, theta)
        out.append(t)
    return out


def _fit(input_tokens: int, output_tokens: int, max_model_len: int | None) -> Lengths:
    return clip_to_context(max(1, input_tokens), max(1, output_tokens), max_model_len)


def _completion_body(prompt: str, max_tokens: int) -> dict[str, object]:
    return {"prompt": prompt, "max_tokens": max_tokens}


def _chat_body(messages: list[dict[str, object]], max_tokens: int) -> dict[str, object]:
    return {"messages": messages, "max_tokens": max_tokens}


def _plain_item(spec: RequestSpec, api: str, kind: str, send_at_s: float = 0.0) -> WorkItem:
    if api == "chat":
        body = _chat_body([{"role": "user", "content": spec.prompt}], spec.max_tokens)
    else:
        body = _completion_body(spec.prompt, spec.max_tokens)
    return WorkItem(api, (body,), send_at_s, kind, spec.target_input_tokens, spec.max_tokens)


def session_item(
    rng: random.Random,
    *,
    tokens_per_word: float,
    output_tokens: int,
    max_model_len: int | None,
    shape: SessionShape = SESSION_SHAPE,
    system_text: str,
    kind: str = "sessions",
) -> WorkItem:
    """One chat session of shape.turns turns; each turn resends the conversation so far.
    Turn lengths shrink so the last turn fits the context window."""
    per_turn = shape.user_tokens + output_tokens
    total = shape.system_tokens + shape.turns * per_turn
    budget = _fit(total, 1, max_model_len).input_tokens
    scale = min(1.0, budget / total)
    user_words = words_for_tokens(max(1, math.floor(shape.user_tokens * scale)), tokens_per_word)
    out = max(1, math.floor(output_tokens * scale))
    system_words = words_for_tokens(
        max(1, math.floor(shape.system_tokens * scale)), tokens_per_word
    )
    system = " ".join(system_text.split()[:system_words])
    messages: list[dict[str, object]] = [{"role": "system", "content": system}]
    bodies: list[dict[str, object]] = []
    for turn in range(shape.turns):
        messages.append({"role": "user", "content": prompt_text(user_words, rng)})
        bodies.append(_chat_body(list(messages), out))
        if turn < shape.turns - 1:
            reply = " ".join(
                rng.choice(WORDS) for _ in range(words_for_tokens(out, tokens_per_word))
            )
            messages.append({"role": "assistant", "content": reply})
    first_in = math.floor((shape.system_tokens + shape.user_tokens) * scale)
    return WorkItem("chat", tuple(bodies), 0.0, kind, first_in, out)


def tool_item(spec: RequestSpec, kind: str = "tools") -> WorkItem:
    """A chat request offering BANK_TOOLS with tool_choice auto (gpt-oss decides to call)."""
    body = _chat_body(
        [
            {"role": "system", "content": "You are a bank's assistant. Use tools for rates."},
            {"role": "user", "content": spec.prompt + " What is the CHF to EUR rate today?"},
        ],
        spec.max_tokens,
    )
    body["tools"] = [dict(t) for t in BANK_TOOLS]
    body["tool_choice"] = "auto"
    return WorkItem("chat", (body,), 0.0, kind, spec.target_input_tokens, spec.max_tokens)


def build_items(
    mix: dict[str, float],
    count: int,
    *,
    api: str,
    max_model_len: int | None,
    tokens_per_word: float,
    seed: int = 0,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
) -> tuple[list[WorkItem], Lengths]:
    """`count` work items drawn from the weighted mix of profiles (one profile: all of it).
    Plain profiles use `api`; sessions and tools always use chat. Returns the items and the
    mean clipped lengths of the first profile (for the workload summary)."""
    rng = random.Random(seed)
    names = list(mix)
    weights = [mix[n] for n in names]
    chosen = [names[0]] * count if len(names) == 1 else rng.choices(names, weights, k=count)
    system_text = prompt_text(
        words_for_tokens(SESSION_SHAPE.system_tokens, tokens_per_word), random.Random(seed ^ 0x5E)
    )
    items: list[WorkItem] = []
    first_lengths: Lengths | None = None
    for name in chosen:
        profile = PROFILES[name]
        specs, lengths = build_requests(
            profile,
            1,
            max_model_len=max_model_len,
            tokens_per_word=tokens_per_word,
            seed=rng.randrange(1 << 30),
            input_tokens=input_tokens if name not in CHAT_ONLY else None,
            output_tokens=output_tokens,
        )
        if first_lengths is None:
            first_lengths = lengths
        kind = name if len(names) > 1 else ""
        if name == "sessions":
            items.append(
                session_item(
                    rng,
                    tokens_per_word=tokens_per_word,
                    output_tokens=specs[0].max_tokens,
                    max_model_len=max_model_len,
                    system_text=system_text,
                    kind=kind or "",
                )
            )
        elif name == "tools":
            items.append(tool_item(specs[0], kind))
        else:
            items.append(_plain_item(specs[0], api, kind))
    if first_lengths is None:
        profile = PROFILES[names[0]]
        first_lengths = clip_to_context(
            input_tokens or profile.input_tokens,
            output_tokens or profile.output_tokens,
            max_model_len,
        )
    return items, first_lengths


def trace_items(
    trace_requests: list[tuple[float, int, int, int]],
    *,
    api: str,
    max_model_len: int | None,
    tokens_per_word: float,
    seed: int = 0,
) -> list[WorkItem]:
    """Replay (arrival_s, input_tokens, output_tokens, shared_prefix_tokens) requests at their
    arrival times. Shared prefixes are one fixed text, so requests that share blocks in the
    trace share a cacheable prefix here too."""
    rng = random.Random(seed)
    fixed = random.Random(0x5EED)  # one prefix text for every run: shared blocks match
    prefix_words = [fixed.choice(WORDS) for _ in range(words_for_tokens(65536, tokens_per_word))]
    items = []
    for arrival, want_in, want_out, shared in trace_requests:
        lengths = _fit(want_in, want_out, max_model_len)
        words = words_for_tokens(lengths.input_tokens, tokens_per_word)
        shared_words = min(words - 1, words_for_tokens(shared, tokens_per_word)) if shared else 0
        shared_words = max(0, min(shared_words, len(prefix_words)))
        head = " ".join(prefix_words[:shared_words])
        prompt = (head + " " + prompt_text(words - shared_words, rng)).strip()
        spec = RequestSpec(prompt, lengths.input_tokens, lengths.output_tokens)
        items.append(_plain_item(spec, api, "", send_at_s=arrival))
    return items
