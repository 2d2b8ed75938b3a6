"""vLLM as a child process: its own process group, its log to a file, a clean stop.

The child runs in a new session (its own process group), so a Ctrl-C in the terminal reaches
swissai only; swissai then stops the whole group: drain (wait for in-flight requests), SIGTERM,
and SIGKILL after a grace period. On Linux the child also gets PR_SET_PDEATHSIG, so it is told
to stop even if swissai itself is killed; vLLM's engine processes watch their parent in turn.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from swissai.errors import EnvironmentProblem

DEFAULT_GRACE_S = 30.0
_PR_SET_PDEATHSIG = 1


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except OSError:
            pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is still alive (zombies count as gone)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(0) succeeds for zombies too; look for a live member in /proc where there is one.
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # fields: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


@contextlib.contextmanager
def _signals_ignored(
    signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> Iterator[list[int]]:
    """Within the block, the given signals are recorded and otherwise ignored (main thread
    only: elsewhere Python cannot change handlers, and signals reach the main thread anyway)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def record(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, record) for s in signums}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, signal.SIG_DFL if handler is None else handler)


class VllmProcess:
    """One vLLM server process (and everything it starts)."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        log_path: Path,
        *,
        echo: TextIO | None = None,
        on_line: Callable[[str], None] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.env = env
        self.log_path = log_path
        self.echo = echo
        self.on_line = on_line
        self.cwd = cwd
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._log: TextIO | None = None
        self.interrupted_while_stopping = 0
        # why the log could not be written (the reader keeps draining the pipe regardless, so
        # vLLM never blocks on a full pipe); None while all is well
        self.log_error: str | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def open_log(self) -> None:
        """Open the log file for appending, before anything starts: an unwritable log is exit 3
        naming the path, not a reader thread that dies and a child that blocks on its pipe."""
        if self._log is not None:
            return
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8")
        except OSError as exc:
            raise EnvironmentProblem(
                f"cannot write vLLM's log {self.log_path}: {exc.strerror or exc}",
                hint="pass a writable --log-file",
            ) from exc

    def start(self) -> None:
        self.open_log()
        try:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
            )
        except OSError as exc:
            self._close_log()
            raise EnvironmentProblem(
                f"cannot start {self.argv[0]}: {exc.strerror}",
                hint="check --vllm-bin / --vllm-python",
            ) from exc
        self._reader = threading.Thread(target=self._read, name="vllm-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Copy the child's output to the log and the callbacks until the pipe closes.

        Never dies before the pipe is drained: a failing log write (disk full) or callback is
        recorded in `log_error` and reading goes on, so the child never blocks on its pipe."""
        assert self._proc is not None and self._proc.stdout is not None
        try:
            for raw in self._proc.stdout:
                # tqdm bars redraw with \r; keep the last state of each line
                line = raw.rstrip("\n").rsplit("\r", 1)[-1]
                self._write_log(line)
                with self._lock:
                    self._lines.append(line)
                if self.echo is not None:
                    with contextlib.suppress(ValueError, OSError):
                        self.echo.write(line + "\n")
                        self.echo.flush()
                if self.on_line is not None:
                    try:
                        self.on_line(line)
                    except Exception as exc:
                        self.log_error = self.log_error or f"log reader: {exc!r}"
        except (OSError, ValueError) as exc:
            self.log_error = self.log_error or f"reading vLLM's output failed: {exc}"
        finally:
            self._close_log()

    def _write_log(self, line: str) -> None:
        if self._log is None:
            return
        try:
            self._log.write(line + "\n")
            self._log.flush()
        except (OSError, ValueError) as exc:
            self.log_error = self.log_error or (
                f"cannot write vLLM's log {self.log_path}: {getattr(exc, 'strerror', None) or exc}"
            )
            self._close_log()

    def _close_log(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            with contextlib.suppress(OSError, ValueError):
                log.close()

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc.pid

    def poll(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait(self, timeout: float | None = None) -> int | None:
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(
        self,
        *,
        drain: Callable[[], None] | None = None,
        grace_s: float = DEFAULT_GRACE_S,
    ) -> str:
        """Stop the whole process group; returns how: 'exited', 'terminated' or 'killed'.

        drain: called first (e.g. waits for in-flight requests to finish); then SIGTERM to the
        group, then SIGKILL to the group if anything is left after grace_s.

        Uninterruptible: while it runs, SIGINT and SIGTERM to swissai are ignored (a second
        Ctrl-C during the drain must not abort the SIGTERM -> SIGKILL escalation and leave vLLM
        running). The previous handlers are restored afterwards; `interrupted_while_stopping`
        counts the signals ignored.
        """
        if self._proc is None:
            return "exited"
        with _signals_ignored() as ignored:
            how = self._stop(drain, grace_s)
        self.interrupted_while_stopping = len(ignored)
        return how

    def _stop(self, drain: Callable[[], None] | None, grace_s: float) -> str:
        assert self._proc is not None
        pgid = self._proc.pid  # session leader: pgid == pid
        how = "exited"
        if self._proc.poll() is None:
            if drain is not None:
                with contextlib.suppress(Exception):
                    drain()
            how = "terminated"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                self._proc.poll()
                if not group_alive(pgid):
                    break
                time.sleep(0.1)
        if group_alive(pgid):
            # the leader may be gone while an engine process it started lingers
            how = "killed"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)
        return how
