"""What a service tells its caller while it works: messages and progress, as plain events.

A service takes `on_event: EventSink` and calls it with `Message` and `Progress` events (and
service-specific dataclasses, e.g. the deploy wait's per-replica state). It never prints. The CLI
renders events on stderr (`swissai.cli.console`); the Python API logs them through `logging`
unless the caller passes its own sink; tests collect them with `Collect`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Level = Literal["info", "note", "warning"]


@dataclass(frozen=True)
class Message:
    """A line for a person: `info` (what was done), `note` (worth knowing), `warning`."""

    text: str
    level: Level = "info"


@dataclass(frozen=True)
class Progress:
    """Progress of a long step (hashing, waiting for a cluster, a load level).

    `task` identifies the step across updates; `total` is None when unknown (a spinner);
    `finished` is set on the last update of the task."""

    task: str
    description: str
    completed: float = 0.0
    total: float | None = None
    unit: Literal["bytes", "items", "steps", "seconds"] = "steps"
    detail: str = ""
    finished: bool = False


EventSink = Callable[[object], None]


def ignore(event: object) -> None:
    """The sink that drops every event."""


_LOG = logging.getLogger("swissai")


def log_events(event: object) -> None:
    """The Python API's default sink: messages to the `swissai` logger, progress dropped."""
    if isinstance(event, Message):
        _LOG.log(logging.WARNING if event.level == "warning" else logging.INFO, event.text)


@dataclass
class Collect:
    """A sink that keeps every event (tests, notebooks)."""

    events: list[object] = field(default_factory=list)

    def __call__(self, event: object) -> None:
        self.events.append(event)

    def messages(self, level: Level | None = None) -> list[str]:
        return [
            e.text
            for e in self.events
            if isinstance(e, Message) and (level is None or e.level == level)
        ]


def say(on_event: EventSink, text: str, level: Level = "info") -> None:
    on_event(Message(text, level))


def warn(on_event: EventSink, text: str) -> None:
    on_event(Message(text, "warning"))
