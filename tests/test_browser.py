"""The demo in a real browser: headless Chromium (Debian's package) driven by Playwright.

Types a review, clicks Analyze, reads the probabilities and the filter table, checks that HTML typed
into the box is shown as text and never rendered, and saves a screenshot to test-artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app_server import app, pipeline, serving  # noqa: F401 (app, pipeline: shared fixtures)


CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# the marker shows the analysis ran on this text; the tags must come out as text, never as elements
REVIEW = (
    'Zzzmarker: a wonderful film, not boring at all. <b id="injected">bold</b> '
    '<img id="injected-img" src="x" onerror="window.__xss = 1"> <script>window.__xss = 2</script>'
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def page(app, pipeline):
    from playwright.sync_api import sync_playwright

    with serving(app.build_demo(pipeline)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            page.goto(url)
            page.wait_for_selector("#review textarea")
            yield page
        finally:
            browser.close()


def probabilities_shown(page) -> dict[str, float]:
    """Class name -> probability, as the Label component holds them (its meters' exact values)."""
    meters = page.locator("#probabilities meter")
    return {meters.nth(i).get_attribute("aria-label"): float(meters.nth(i).get_attribute("value"))
            for i in range(meters.count())}


BODY_ROWS = "[role=row]:not([aria-rowindex='1'])"  # the header is row 1 (ARIA grid)


def filter_rows(page) -> list[list[str]]:
    """The first rows of the filter table as the browser shows them."""
    rows = page.locator(f"#filters {BODY_ROWS}")
    return [[cell.strip() for cell in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
            for i in range(min(rows.count(), 5))]


def test_review_is_analysed_and_html_is_shown_as_text(page, app, pipeline):
    page.fill("#review textarea", REVIEW)
    page.click("#analyze")
    page.wait_for_function("document.querySelector('#tokens').innerText.includes('zzzmarker')")

    expected = app.analyze(pipeline, REVIEW)
    shown = probabilities_shown(page)
    assert sum(shown.values()) == pytest.approx(1.0, abs=1e-6)
    for name, probability in expected[0].items():
        assert shown[name] == pytest.approx(probability, abs=1e-6)
    top_label = page.inner_text("#probabilities [data-testid='label-output-value']").strip()
    assert top_label == max(expected[0], key=expected[0].get)

    rows = filter_rows(page)
    table = expected[3]
    assert rows, "the filter table is empty"
    for row, (_, want) in zip(rows, table.iterrows()):
        assert int(row[0]) == want["filter"] and int(row[1]) == want["width"]
        assert float(row[4]) == pytest.approx(want["contribution"], abs=1e-4)
        assert row[3] == want["n-gram in the text"]

    # typed HTML: visible as characters, never turned into elements, scripts never run
    assert page.locator("#injected, #injected-img").count() == 0
    assert page.locator("#tokens b, #tokens img, #tokens script, #filters img, #filters b").count() == 0
    assert page.evaluate("window.__xss") is None
    assert "<" in page.inner_text("#tokens") and "onerror" in page.inner_text("#tokens")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "app-analysis.png"), full_page=True)


def test_clicking_a_filter_row_shows_what_it_detects(page):
    rows = filter_rows(page)
    assert len(rows) >= 2
    page.locator(f"#filters {BODY_ROWS}").nth(1).locator("[role=gridcell]").first.click()
    chosen = rows[1][0]
    page.wait_for_function(
        f"document.querySelector('#filter-description').innerText.includes('Filter #{chosen} ')"
    )
    assert f"great film {chosen}" in page.inner_text("#training-ngrams")
    assert page.locator("#training-ngrams b").count() == 0  # "<b>not</b> bad" in the n-grams stays text


def test_empty_review_gets_a_clear_message(page):
    page.fill("#review textarea", "   ")
    page.click("#analyze")
    toast = page.locator("[data-testid='toast-body']").first
    toast.wait_for()
    assert re.search("The review is empty", toast.inner_text())


def test_an_example_fills_the_box_and_runs(page):
    page.get_by_role("button", name="Negation").click()
    page.wait_for_function("document.querySelector('#tokens').innerText.includes('predictable')")
    assert "not bad at all" in page.input_value("#review textarea")
