"""The report in a real headless browser: it opens from file://, offline, and is not a blank page.

Needs Chromium (Debian: ``apt-get install chromium``); skipped without one. To look at the page by
hand: ``python tests/reporting/test_report_browser.py /tmp/report.png`` writes the example report and its
screenshot.
"""
from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from campaign.reporting.report import screenshot_report, write_report

sys.path.insert(0, str(Path(__file__).parent))  # so the file also runs as a script
from report_fixture import example_view  # noqa: E402

WIDTH, HEIGHT = 1280, 4000
SECTIONS = ["summary", "focus", "baselines", "gates", "hard-facets", "trials-cycle-1", "trials-cycle-2", "hard-cases"]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _chromium(report_path: Path, *mode: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file:// URL (here for --dump-dom): fresh profile, no network services."""
    browser = find_chromium()
    with tempfile.TemporaryDirectory(prefix="report-profile-") as profile:
        cmd = [browser, "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
               *mode, Path(report_path).resolve().as_uri()]
        if os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium will not start its sandbox as root
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def screenshot(report_path, png_path) -> Path:
    """Render ``report_path`` to ``png_path`` (WIDTH × HEIGHT) through the public helper."""
    return screenshot_report(report_path, png_path, width=WIDTH, height=HEIGHT, browser=find_chromium())


def png_rows(png: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the filtered scanlines of an 8-bit RGB/RGBA PNG, with the stdlib only."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, [], None
    while pos < len(png):
        (size,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        data = png[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
        elif kind == b"IDAT":
            idat.append(data)
        pos += 12 + size
    raw = zlib.decompress(b"".join(idat))
    stride = 1 + width * (3 if colour == 2 else 4)
    assert len(raw) == height * stride
    return width, height, [raw[i * stride + 1:(i + 1) * stride] for i in range(height)]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    if not find_chromium():
        pytest.skip("no chromium; install Debian's chromium to run the browser check")
    return write_report(example_view(), tmp_path_factory.mktemp("report") / "report.html")


def test_screenshot_is_a_full_size_page_with_content(report, tmp_path):
    png = screenshot(report, tmp_path / "report.png")
    width, height, rows = png_rows(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    # A blank or single-colour page filters to (near) constant scanlines; text and charts do not.
    busy = sum(1 for row in rows if len(set(row)) > 16)
    assert busy / height > 0.2, f"only {busy} of {height} rows have content"
    assert len(set(b"".join(rows[::50]))) > 128


def test_dom_has_sections_svg_and_escaped_text(report):
    dom = _chromium(report, "--dump-dom").stdout
    for sid in SECTIONS:
        assert f'id="{sid}"' in dom, sid
    assert dom.count("<svg") == 6
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in dom
    assert "<script" not in dom.lower()


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "report.png")
    page = write_report(example_view(), out.with_suffix(".html"))
    print(screenshot(page, out), page)
