"""Headless Chromium as a converter: HTML file -> PDF (`swissai report --pdf`). Offline: the
flags turn off every background fetch (component updates, sync, networking), and the audit
HTML itself has a Content-Security-Policy that forbids any load. Debian's `chromium` package
(`apt-get install chromium`); `chromium-browser` and `google-chrome` are found too."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from swissai.errors import EnvironmentProblem

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",  # root in containers; the input is our own escaped, script-free HTML
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-pdf-header-footer",  # no date or file path in the PDF
)
TIMEOUT_S = 120


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium_command(binary: str, profile: Path, *extra: str) -> list[str]:
    return [binary, *OFFLINE_FLAGS, f"--user-data-dir={profile}", *extra]


def print_to_pdf(html: Path, pdf: Path) -> None:
    binary = find_chromium()
    if binary is None:
        raise EnvironmentProblem(
            "no PDF converter: chromium is not installed",
            hint="apt-get install chromium, or leave --pdf out (the HTML is the archived record)",
        )
    with tempfile.TemporaryDirectory(prefix="swissai-chromium-") as profile:
        command = chromium_command(
            binary, Path(profile), f"--print-to-pdf={pdf}", html.resolve().as_uri()
        )
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentProblem(f"chromium did not finish the PDF in {TIMEOUT_S} s") from None
    if done.returncode != 0 or not pdf.is_file():
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EnvironmentProblem(f"chromium could not print {html} to PDF: {last[:200]}")
