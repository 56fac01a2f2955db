"""The search section in a real headless browser: its charts are in the DOM and actually painted.

Needs Chromium (Debian: ``apt-get install chromium``); skipped without one. To look at it by hand:
``python tests/reporting/test_search_browser.py /tmp/search.png`` writes the page and its screenshot.
"""
from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import pytest

from campaign.reporting.report import screenshot_report, write_report
from campaign.reporting.search_section import search_view

sys.path.insert(0, str(Path(__file__).parent))  # so the file also runs as a script
from report_fixture import empty_view, example_view  # noqa: E402
from search_fixture import build_study  # noqa: E402
from test_report_browser import _chromium, find_chromium  # noqa: E402

WIDTH, HEIGHT = 1280, 2600
BLUE, ORANGE = (0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B)  # cycle 1, cycle 2 (PALETTE[0], PALETTE[1])


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png_pixels(png: bytes) -> tuple[int, int, int, list[bytearray]]:
    """Width, height, bytes per pixel and the unfiltered rows of an 8-bit RGB/RGBA PNG (stdlib only)."""
    pos, idat = 8, []
    while pos < len(png):
        (size,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", png[pos + 8:pos + 18])
            assert depth == 8 and colour in (2, 6), (depth, colour)
        elif kind == b"IDAT":
            idat.append(png[pos + 8:pos + 8 + size])
        pos += 12 + size
    raw, bpp = zlib.decompress(b"".join(idat)), 3 if colour == 2 else 4
    stride, rows, prev = width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
            line[i] = (line[i] + (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]) & 0xFF
        rows.append(line)
        prev = line
    return width, height, bpp, rows


def colour_bands(rows, bpp: int, colour: tuple, gap: int = 60) -> list[list[int]]:
    """Vertical bands (first row, last row) where ``colour`` is painted, opaque or at 85% on white (±2 levels)."""
    near = range(-2, 3)
    wanted = {(r + i, g + j, b + k) for r, g, b in (colour, tuple(round(0.85 * v + 0.15 * 255) for v in colour))
              for i in near for j in near for k in near}
    bands = []
    for y, row in enumerate(rows):
        if any(tuple(row[i:i + 3]) in wanted for i in range(0, len(row), bpp)):
            if bands and y - bands[-1][1] <= gap:
                bands[-1][1] = y
            else:
                bands.append([y, y])
    return bands


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> dict:
    if not find_chromium():
        pytest.skip("no chromium; install Debian's chromium to run the browser check")
    folder = tmp_path_factory.mktemp("campaign")
    build_study(folder)
    return search_view(folder)


def test_dom_has_the_search_section_and_its_charts(search, tmp_path):
    page = write_report({**example_view(), "search": search}, tmp_path / "report.html")
    dom = _chromium(page, "--dump-dom").stdout
    start = dom.index('<section id="search">')
    body = dom[start:dom.index("</section>", start)]
    assert body.count("<svg") == 4 and dom.count("<svg") == 10  # history, 2 importances, slices; 6 before
    assert "Optimization history" in body and "train/lr (log scale)" in body and "cycle1-trial7-0107beef" in body
    assert "<script" not in dom.lower()


def test_the_charts_are_painted_in_the_cycles_colours(search, tmp_path):
    """On an otherwise chart-free page, cycle 1's blue and cycle 2's orange show where the plots are."""
    page = write_report({**empty_view(), "search": search}, tmp_path / "report.html")
    png = screenshot_report(page, tmp_path / "search.png", width=WIDTH, height=HEIGHT, browser=find_chromium())
    width, height, bpp, rows = png_pixels(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    blue, orange = colour_bands(rows, bpp, BLUE), colour_bands(rows, bpp, ORANGE)
    # Blue in the history, the importance bars and the slices; orange (cycle 2) in the history and slices only.
    assert len(blue) >= 3 and blue[-1][1] - blue[0][0] > 500, blue
    assert len(orange) >= 2 and blue[0][0] <= orange[0][0] and orange[-1][1] <= blue[-1][1], orange
    bars = [b for b in blue if orange[0][1] < b[0] and b[1] < orange[1][0]]  # between history and slices
    assert bars and max(b[1] - b[0] for b in bars) > 60, (blue, orange)  # the importance bars: blue only
    assert blue[-1][1] < HEIGHT - 100  # the slices end on the page, not cut off by the window


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "search.png")
    build_study(out.parent)
    written = write_report({**empty_view(), "search": search_view(out.parent)}, out.with_suffix(".html"))
    print(screenshot_report(written, out, width=WIDTH, height=HEIGHT, browser=find_chromium()), written)
