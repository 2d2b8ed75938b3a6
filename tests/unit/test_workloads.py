"""Workload profiles: lengths clipped to max_model_len, reproducible prompts, calibration."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swissai.core.workloads import (
    PROFILES,
    build_requests,
    calibrate_tokens_per_word,
    clip_to_context,
    prompt_text,
    words_for_tokens,
)


def test_profiles_are_chat_rag_summarize_sessions_and_tools() -> None:
    assert set(PROFILES) == {"chat", "rag", "summarize", "sessions", "tools"}
    rag = PROFILES["rag"]
    assert rag.input_tokens > 4 * PROFILES["chat"].input_tokens  # long context
    assert PROFILES["summarize"].output_tokens > PROFILES["chat"].output_tokens


def test_clip_keeps_lengths_that_fit() -> None:
    assert clip_to_context(512, 256, 4096) == clip_to_context(512, 256, None)
    assert not clip_to_context(512, 256, 4096).clipped


def test_clip_scales_both_into_a_small_window() -> None:
    got = clip_to_context(512, 256, 256)
    # budget = 256 - max(8, 26) = 230, shape 2:1 kept
    assert got.clipped and got.input_tokens + got.output_tokens <= 230
    assert got.input_tokens == 153 and got.output_tokens == 76
    rag = clip_to_context(8192, 256, 2048)
    assert rag.input_tokens + rag.output_tokens <= 2048 - 205 and rag.output_tokens >= 1


@given(st.integers(1, 200_000), st.integers(1, 50_000), st.integers(12, 1_000_000))
def test_clip_never_exceeds_the_window(inp: int, out: int, mml: int) -> None:
    got = clip_to_context(inp, out, mml)
    assert got.input_tokens >= 1 and got.output_tokens >= 1
    assert got.input_tokens + got.output_tokens <= mml
    assert got.input_tokens <= inp and got.output_tokens <= out


def test_clip_rejects_impossible_inputs() -> None:
    with pytest.raises(ValueError):
        clip_to_context(0, 5, 100)
    with pytest.raises(ValueError):
        clip_to_context(5, 5, 8)


def test_build_requests_is_reproducible_and_within_context() -> None:
    a, base = build_requests(PROFILES["chat"], 20, max_model_len=256, tokens_per_word=2.0, seed=3)
    b, _ = build_requests(PROFILES["chat"], 20, max_model_len=256, tokens_per_word=2.0, seed=3)
    c, _ = build_requests(PROFILES["chat"], 20, max_model_len=256, tokens_per_word=2.0, seed=4)
    assert [r.prompt for r in a] == [r.prompt for r in b] != [r.prompt for r in c]
    assert base.clipped
    for r in a:
        assert r.target_input_tokens + r.max_tokens <= 256
        # words x tokens/word stays within the target
        assert len(r.prompt.split()) * 2.0 <= max(r.target_input_tokens, 2.0) + 2 * 4
    # the range ratio spreads lengths
    assert len({r.max_tokens for r in a}) > 3


def test_build_requests_fixed_lengths_do_not_vary() -> None:
    specs, base = build_requests(
        PROFILES["rag"], 5, max_model_len=None, tokens_per_word=1.0, input_tokens=100,
        output_tokens=10,
    )  # fmt: skip
    assert {(s.target_input_tokens, s.max_tokens) for s in specs} == {(100, 10)}
    assert not base.clipped
    assert all(len(s.prompt.split()) == 100 for s in specs)


def test_calibration_and_words() -> None:
    assert calibrate_tokens_per_word(16, 40) == 2.5
    assert words_for_tokens(100, 2.5) == 40
    assert words_for_tokens(1, 5.0) == 1
    with pytest.raises(ValueError):
        calibrate_tokens_per_word(0, 10)
    with pytest.raises(ValueError):
        words_for_tokens(10, 0)
    text = prompt_text(20, random.Random(0))
    assert len(text.split()) == 20 and text.endswith("Summarise the above.")
