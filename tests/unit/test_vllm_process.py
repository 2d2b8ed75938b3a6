"""vllm_process adapter against small real child processes (no vLLM needed)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

from swissai.adapters.vllm_process import VllmProcess, group_alive

# A parent that ignores SIGTERM and starts a grandchild that ignores it too: only SIGKILL to the
# whole process group ends both.
STUBBORN = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('grandchild up', flush=True); time.sleep(300)"])
    print("Starting to load model /m...", flush=True)
    print(f"grandchild {child.pid}", flush=True)
    time.sleep(300)
    """
)
POLITE = textwrap.dedent(
    """
    import signal, sys, time
    def bye(*_):
        print("got SIGTERM, exiting", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, bye)
    print("INFO:     Application startup complete.", flush=True)
    time.sleep(300)
    """
)


def _wait_for(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_sigterm_ignored_escalates_to_sigkill_for_the_whole_group(tmp_path: Path) -> None:
    seen: list[str] = []
    proc = VllmProcess(
        [sys.executable, "-c", STUBBORN],
        dict(os.environ),
        tmp_path / "log" / "v.log",
        on_line=seen.append,
    )
    proc.start()
    assert _wait_for(lambda: any(line.startswith("grandchild ") for line in proc.lines()))
    grandchild = int(
        next(line for line in proc.lines() if line.startswith("grandchild ")).split()[1]
    )
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)  # its own process group
    assert os.getpgid(grandchild) == proc.pid

    drained: list[float] = []
    started = time.monotonic()
    how = proc.stop(drain=lambda: drained.append(time.monotonic()), grace_s=1.0)
    assert how == "killed"
    assert drained and drained[0] - started < 0.5  # drain ran before the signals
    assert time.monotonic() - started >= 1.0  # the grace period was granted
    assert not group_alive(proc.pid)
    assert (
        not Path(f"/proc/{grandchild}").exists()
        or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split(")")[1][:3]
    )
    log = (tmp_path / "log" / "v.log").read_text()
    assert "Starting to load model /m..." in log
    assert "Starting to load model /m..." in seen


def test_polite_child_stops_on_sigterm(tmp_path: Path) -> None:
    echo = (tmp_path / "echo.txt").open("w")
    proc = VllmProcess(
        [sys.executable, "-c", POLITE], dict(os.environ), tmp_path / "v.log", echo=echo
    )
    proc.start()
    assert _wait_for(lambda: "Application startup complete" in " ".join(proc.lines()))
    how = proc.stop(grace_s=10.0)
    echo.close()
    assert how == "terminated"
    assert proc.poll() == 0
    assert not group_alive(proc.pid)
    assert "got SIGTERM, exiting" in (tmp_path / "v.log").read_text()
    assert "Application startup complete" in (tmp_path / "echo.txt").read_text()


def test_exited_child_needs_no_signal(tmp_path: Path) -> None:
    proc = VllmProcess(
        [sys.executable, "-c", "print('done')"], dict(os.environ), tmp_path / "v.log"
    )
    proc.start()
    assert proc.wait(10) == 0
    assert proc.stop(grace_s=1) == "exited"
    assert proc.lines() == ["done"]


def test_missing_executable_is_an_environment_problem(tmp_path: Path) -> None:
    import pytest

    from swissai.errors import EnvironmentProblem

    proc = VllmProcess([str(tmp_path / "no-such-vllm")], {}, tmp_path / "v.log")
    with pytest.raises(EnvironmentProblem, match="cannot start"):
        proc.start()


def test_ctrl_c_during_stop_does_not_abort_the_escalation(tmp_path: Path) -> None:
    """A second Ctrl-C (SIGINT to swissai) during the drain and during the grace period: stop()
    still sends SIGKILL to the whole group, and the handlers are restored afterwards."""
    proc = VllmProcess([sys.executable, "-c", STUBBORN], dict(os.environ), tmp_path / "v.log")
    proc.start()
    assert _wait_for(lambda: any(line.startswith("grandchild ") for line in proc.lines()))
    before = signal.getsignal(signal.SIGINT)

    def drain() -> None:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while draining
        time.sleep(0.2)

    timer = threading.Timer(0.6, os.kill, (os.getpid(), signal.SIGINT))  # ... and in the grace
    timer.start()
    try:
        how = proc.stop(drain=drain, grace_s=1.5)
    finally:
        timer.cancel()
    assert how == "killed"
    assert not group_alive(proc.pid)
    assert proc.interrupted_while_stopping == 2
    assert signal.getsignal(signal.SIGINT) is before


def test_a_failing_log_never_stops_the_reader(tmp_path: Path) -> None:
    """/dev/full fails every write (ENOSPC), like a full disk. The reader used to die at the
    first write; the child then blocked on its full pipe (64 KiB) and serve waited out the
    startup timeout. Now the reader drains the pipe to the end and records why the log
    stopped."""
    import pytest

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    child = [sys.executable, "-c", "import sys\nfor i in range(50000): print('x' * 40, i)"]
    process = VllmProcess(child, dict(os.environ), Path("/dev/full"))
    process.start()
    assert process.wait(30) == 0  # never blocked on its pipe
    process.stop(grace_s=1)
    assert process.log_error is not None and "/dev/full" in process.log_error
    assert len(process.lines()) == 50000


def test_an_unwritable_log_is_refused_before_the_child_starts(tmp_path: Path) -> None:
    import pytest

    from swissai.errors import EnvironmentProblem

    marker = tmp_path / "started"
    child = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    process = VllmProcess(child, dict(os.environ), tmp_path)  # a directory, not a file
    with pytest.raises(EnvironmentProblem, match=f"cannot write vLLM's log {tmp_path}"):
        process.start()
    assert not process.started and not marker.exists()
