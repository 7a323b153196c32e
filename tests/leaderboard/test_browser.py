"""The generated leaderboard in a real headless Chromium (Debian's package, driven by Playwright).

Checks what only a browser can: the page runs without console errors from
``file://``, sorting and filtering work, and an entry named like a script tag is
shown as text without running. Chromium must be installed (``make browser`` does it);
a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leaderboard import build_board, load_references, render_site
from leaderboard.render import page_name
from tests.helpers.leaderboard_rows import ENTRIES_META, RAYD3D_TABLE1_CSV, XSS_NAME, fixture_rows

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _chromium() -> str:
    found = CHROMIUM if CHROMIUM.is_file() else shutil.which("chromium")
    if not found:
        pytest.fail(
            "headless Chromium is required for the leaderboard browser test but was not found at "
            f"{CHROMIUM}: install it with `make browser` (runs `apt-get install chromium chromium-driver`) "
            "or `sudo apt-get install chromium chromium-driver`"
        )
    return str(found)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> tuple[Path, list]:
    out = tmp_path_factory.mktemp("browser-site")
    refs_file = out / "refs.csv"
    refs_file.write_text(RAYD3D_TABLE1_CSV)
    refs = load_references(refs_file)
    render_site(fixture_rows(), ENTRIES_META, out, references=refs)
    return out, build_board(fixture_rows(), ENTRIES_META, references=refs).groups


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    path = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, site):
    """A fresh page on index.html that records console errors, page errors and dialogs."""
    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
    pg = ctx.new_page()
    pg.errors, pg.dialogs = [], []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.goto((site[0] / "index.html").as_uri())
    yield pg
    ctx.close()


def visible_entries(pg) -> list[tuple[str, str]]:
    return pg.eval_on_selector_all(
        "#results-table tbody tr",
        "rows => rows.filter(r => !r.hidden).map(r => [r.dataset.entry, r.dataset.mode])",
    )


def test_loads_without_console_errors(page):
    assert page.title().startswith("robobench")
    assert page.locator("#results-table tbody tr").count() == 10
    assert page.locator("svg.chart").count() == 3
    assert page.errors == [] and page.dialogs == []


def test_sort_by_mrr_reorders_rows(page, site):
    groups = site[1]
    complete = sorted((g for g in groups if g.metrics["mrr"].complete), key=lambda g: -g.metrics["mrr"].mean)
    rest = [g for g in groups if not g.metrics["mrr"].complete]
    header = page.locator('#results-table th[data-key="mrr"]')
    header.click()
    assert header.get_attribute("aria-sort") == "descending"
    assert visible_entries(page) == [[g.entry, g.train_mode] for g in complete + rest]
    header.click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert visible_entries(page) == [[g.entry, g.train_mode] for g in complete[::-1] + rest]  # partial rows stay last
    assert page.errors == []


def test_filters_hide_rows(page):
    page.select_option("#filter-role", "teacher")
    assert visible_entries(page) == [["centerpoint-tiny", "clean"]]
    page.select_option("#filter-role", "")
    page.select_option("#filter-mode", "corrupted")
    assert visible_entries(page) == [["bevdet-tiny+tig", "corrupted"]]
    assert page.locator("#row-count").inner_text() == "1 of 10 rows"
    page.select_option("#filter-mode", "")
    page.select_option("#filter-role", "reference")
    assert [e for e, _ in visible_entries(page)] == ["BEVDet (paper)", "BEVDet + RayD3D (paper)"]
    assert page.errors == []


def test_script_name_is_text_and_never_runs(page, site):
    link = page.locator(f'#results-table tr[data-entry="{XSS_NAME}"] a.entry-link')
    assert link.inner_text() == XSS_NAME
    link.click()
    page.wait_for_load_state("load")
    assert Path(page.url).name == page_name(XSS_NAME)
    assert page.locator("h1.entry-title").inner_text() == XSS_NAME
    assert page.dialogs == [] and page.errors == []
