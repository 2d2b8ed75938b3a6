from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """Immutable and strict about unknown keys: a typo in a file is an error, not a silent default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
