"""Request traces: one format read by `swissai size --trace` and replayed by `swissai bench --trace`.

Pure: parses text that an adapter has already read (capped). A trace is JSONL, one request per
line, in either of two spellings:

    swissai   {"timestamp_s": 0.25, "input_tokens": 812, "output_tokens": 164, "session_id": "a"}
    mooncake  {"timestamp": 250, "input_length": 812, "output_length": 164, "hash_ids": [1, 2]}

The second is the Mooncake trace format (timestamps in milliseconds), which NVIDIA AIPerf and
Dynamo's tooling replay; `hash_ids` (512-token prefix blocks shared between requests) are kept
as the number of blocks a request shares with an earlier one, so a replay can reproduce prefix
reuse. Blank lines and lines starting with `#` are skipped. Timestamps are made relative to the
first request; requests are sorted by arrival.
Source: https://github.com/kvcache-ai/Mooncake/blob/main/FAST25-release/traces/README.md
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from swissai.errors import InputError

MAX_TRACE_REQUESTS = 2_000_000
MAX_TOKENS_PER_REQUEST = 10_000_000
MOONCAKE_BLOCK_TOKENS = 512  # tokens per hash id in the Mooncake traces (their README)


@dataclass(frozen=True)
class TraceRequest:
    arrival_s: float  # seconds after the first request of the trace
    input_tokens: int
    output_tokens: int
    session_id: str | None = None
    shared_prefix_tokens: int = 0  # prompt tokens shared with an earlier request (prefix reuse)


@dataclass(frozen=True)
class Trace:
    requests: tuple[TraceRequest, ...]
    source: str

    @property
    def duration_s(self) -> float:
        return self.requests[-1].arrival_s if self.requests else 0.0

    @property
    def mean_input_tokens(self) -> float:
        return sum(r.input_tokens for r in self.requests) / len(self.requests)

    @property
    def mean_output_tokens(self) -> float:
        return sum(r.output_tokens for r in self.requests) / len(self.requests)

    def mean_requests_per_s(self) -> float:
        """Average arrival rate; a trace of one instant counts as one second."""
        return len(self.requests) / max(self.duration_s, 1.0)

    def peak_requests_per_s(self, window_s: float = 60.0) -> float:
        """Highest arrival rate over any sliding window of `window_s` (at most the trace)."""
        if window_s <= 0:
            raise ValueError("window_s must be positive")
        window_s = min(window_s, max(self.duration_s, 1.0))
        best = 0
        start = 0
        arrivals = [r.arrival_s for r in self.requests]
        for end, t in enumerate(arrivals):
            while t - arrivals[start] > window_s:
                start += 1
            best = max(best, end - start + 1)
        return best / window_s


def _count(value: object, field: str, line_number: int, source: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"{source}:{line_number}: {field} must be a number, got {type(value).__name__}",
            hint="see docs/bench.md (trace format)",
        )
    if not math.isfinite(value) or value != int(value):
        raise InputError(f"{source}:{line_number}: {field} must be a whole number, got {value}")
    number = int(value)
    if not minimum <= number <= MAX_TOKENS_PER_REQUEST:
        raise InputError(
            f"{source}:{line_number}: {field} {number} is outside {minimum}..{MAX_TOKENS_PER_REQUEST}"
        )
    return number


def _timestamp(value: object, field: str, line_number: int, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{source}:{line_number}: {field} must be a finite number")
    if value < 0:
        raise InputError(f"{source}:{line_number}: {field} must not be negative")
    return float(value)


def parse_trace(text: str, source: str = "trace") -> Trace:
    """Parse a JSONL trace; errors name the line. Raises InputError (exit 2)."""
    raw: list[tuple[float, int, int, str | None, tuple[int, ...]]] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(raw) >= MAX_TRACE_REQUESTS:
            raise InputError(
                f"{source}: more than {MAX_TRACE_REQUESTS:,} requests",
                hint="sample the trace down (every n-th line keeps the shape)",
            )
        try:
            record = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{source}:{line_number}: not JSON ({exc.msg})",
                hint="a trace is JSONL: one JSON object per line",
            ) from None
        if not isinstance(record, dict):
            raise InputError(f"{source}:{line_number}: expected a JSON object per line")
        if "timestamp_s" in record:
            arrival = _timestamp(record["timestamp_s"], "timestamp_s", line_number, source)
            fields = ("input_tokens", "output_tokens")
        elif "timestamp" in record:
            arrival = _timestamp(record["timestamp"], "timestamp", line_number, source) / 1000.0
            fields = ("input_length", "output_length")
        else:
            raise InputError(
                f"{source}:{line_number}: no timestamp_s (swissai) or timestamp (mooncake, ms)",
                hint="each line needs an arrival time and token counts; see docs/bench.md",
            )
        missing = [f for f in fields if f not in record]
        if missing:
            raise InputError(f"{source}:{line_number}: missing {', '.join(missing)}")
        input_tokens = _count(record[fields[0]], fields[0], line_number, source, minimum=1)
        output_tokens = _count(record[fields[1]], fields[1], line_number, source, minimum=1)
        session = record.get("session_id")
        session_id = str(session) if session is not None else None
        hash_ids = record.get("hash_ids") or []
        if not isinstance(hash_ids, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in hash_ids
        ):
            raise InputError(f"{source}:{line_number}: hash_ids must be a list of integers")
        raw.append((arrival, input_tokens, output_tokens, session_id, tuple(hash_ids)))
    if not raw:
        raise InputError(f"{source}: no requests in the trace", hint="one JSON object per line")
    raw.sort(key=lambda item: item[0])
    first = raw[0][0]
    seen_blocks: set[int] = set()
    requests = []
    for arrival, input_tokens, output_tokens, session_id, hash_ids in raw:
        shared_blocks = 0
        for block in hash_ids:  # a prefix is shared only while its leading blocks were seen
            if block not in seen_blocks:
                break
            shared_blocks += 1
        seen_blocks.update(hash_ids)
        requests.append(
            TraceRequest(
                arrival_s=arrival - first,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                session_id=session_id,
                shared_prefix_tokens=min(input_tokens, shared_blocks * MOONCAKE_BLOCK_TOKENS),
            )
        )
    return Trace(requests=tuple(requests), source=source)


def format_trace(requests: list[TraceRequest] | tuple[TraceRequest, ...]) -> str:
    """The swissai spelling, one line per request (what `parse_trace` reads back)."""
    lines = []
    for r in requests:
        record: dict[str, object] = {
            "timestamp_s": round(r.arrival_s, 6),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
        }
        if r.session_id is not None:
            record["session_id"] = r.session_id
        lines.append(json.dumps(record))
    return "\n".join(lines) + "\n"
