"""The A/B page in a real headless browser: it opens from file://, offline, with no console message,
is not blank, every table is visible, and nothing (a long row text, a wide table) is wider than the page.

Needs Chromium (Debian: ``apt-get install chromium``); skipped without one. The screenshot is also
copied to /tmp/ab_screenshot.png to look at; ``python tests/reporting/test_ab_browser.py /tmp/ab.png``
writes the example page and its screenshot by hand.
"""
from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from campaign.reporting.ab import write_ab
from campaign.reporting.report import screenshot_report

sys.path.insert(0, str(Path(__file__).parent))  # so the file also runs as a script
from test_ab import HTML_TEXT, INVALID, ab_record  # noqa: E402
from test_report_browser import find_chromium, png_rows  # noqa: E402

WIDTH, HEIGHT = 1280, 3600
SHOT = Path("/tmp/ab_screenshot.png")
SECTIONS = ["headline", "paired-test", "facets", "confusion", "latency", "disagreements", "settings"]


def _chromium(page: Path, *mode: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a file:// URL with console logging on stderr: fresh profile, no network services."""
    with tempfile.TemporaryDirectory(prefix="ab-profile-") as profile:
        cmd = [find_chromium(), "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", "--enable-logging=stderr", "--v=0", f"--user-data-dir={profile}",
               f"--window-size={WIDTH},{HEIGHT}", *mode, page.resolve().as_uri()]
        if os.geteuid() == 0:
            cmd.insert(2, "--no-sandbox")  # Chromium will not start its sandbox as root
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    if not find_chromium():
        pytest.skip("no chromium; install Debian's chromium to run the browser check")
    return write_ab(ab_record(), tmp_path_factory.mktemp("ab"))[1]


# Measured on a copy of the page with this probe appended (the page itself has no script): the
# document's width, and each table's box against its section's, written into the DOM as JSON.
PROBE = """<script>(() => {
  const d = document.documentElement, out = {scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, tables: []};
  for (const t of document.querySelectorAll("table")) {
    const r = t.getBoundingClientRect(), s = t.closest("section").getBoundingClientRect();
    out.tables.push({section: t.closest("section").id, width: r.width, height: r.height, right: r.right,
                     limit: s.right});
  }
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def _layout(page: Path, tmp_path: Path) -> dict:
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(probed, "--dump-dom").stdout
    start = dom.index('<pre id="probe">') + len('<pre id="probe">')
    return json.loads(html.unescape(dom[start:dom.index("</pre>", start)]))


def test_screenshot_is_a_full_size_page_with_content(page, tmp_path):
    png = screenshot_report(page, tmp_path / "ab.png", width=WIDTH, height=HEIGHT, browser=find_chromium())
    shutil.copyfile(png, SHOT)
    width, height, rows = png_rows(png.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    # A blank or single-colour page filters to (near) constant scanlines; text and tables do not.
    busy = sum(1 for row in rows if len(set(row)) > 16)
    assert busy / height > 0.2, f"only {busy} of {height} rows have content"
    assert len(set(b"".join(rows[::50]))) > 128


def test_every_table_is_visible_and_nothing_is_wider_than_the_page(page, tmp_path):
    layout = _layout(page, tmp_path)
    assert layout["scrollWidth"] <= layout["clientWidth"] == WIDTH, layout
    tables = layout["tables"]
    # headline, the 2×2, per class, two confusion matrices, latency, disagreements, settings
    assert [t["section"] for t in tables] == [s for s in SECTIONS for _ in range(2 if s == "confusion" else 1)]
    for t in tables:
        assert t["width"] > 50 and t["height"] > 30, t
        assert t["right"] <= t["limit"], f"a table in {t['section']} sticks out of its section: {t}"


def test_the_layout_probe_sees_an_overflow(page, tmp_path):
    wide = tmp_path / "wide" / "ab.html"
    wide.parent.mkdir()
    wide.write_text(page.read_text(encoding="utf-8").replace(
        "</main>", "<section id='wide'><table style='width:3000px'><tr><td>x</td></tr></table></section></main>"),
        encoding="utf-8")
    layout = _layout(wide, tmp_path)
    assert layout["scrollWidth"] > WIDTH and layout["tables"][-1]["right"] > layout["tables"][-1]["limit"]


def test_dom_loads_without_console_messages_and_is_escaped(page):
    run = _chromium(page, "--dump-dom")
    dom = run.stdout
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    for sid in SECTIONS:
        assert f'id="{sid}"' in dom, sid
    assert dom.count('class="cm"') == 2 and dom.count(f">{INVALID}</th>") == 2
    assert "ship it? &lt;b&gt;&amp; then&lt;/b&gt;" in dom and HTML_TEXT not in dom
    assert "<script" not in dom.lower() and "B (cycle_2 &lt;best&gt;) is better" in dom


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "ab.png")
    written = write_ab(ab_record(), out.parent)[1]
    print(screenshot_report(written, out, width=WIDTH, height=HEIGHT, browser=find_chromium()), written)
