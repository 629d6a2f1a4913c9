"""The demo in a real browser: headless Chromium (Debian's package) driven by Playwright, at a desktop
(1366x900) and a phone (390x844) viewport.

Types reviews, clicks, taps and presses Enter the way a visitor would; checks what is shown against
the handlers, that typed HTML stays text, that one analysis is one request, and that results land
in view on a phone; saves screenshots of each viewport to test-artifacts/.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

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
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
# the marker shows the analysis ran on this text; the tags must come out as text, never as elements
REVIEW = (
    'Zzzmarker: a wonderful film, not boring at all. <b id="injected">bold</b> ${alert(3)} {{x}} '
    '<img id="injected-img" src="x" onerror="window.__xss = 1"> <script>window.__xss = 2</script>'
)
TABLE_ROWS = 4
BODY_ROWS = "[role=row]:not([aria-rowindex='1'])"  # the header is row 1 (ARIA grid)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server(app, pipeline):
    # fewer table rows than the tiny model has filters, so that "show all" has more to show
    with serving(app.build_demo(pipeline, table_rows=TABLE_ROWS)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module", params=list(VIEWPORTS))
def page(request, browser, server):
    page = browser.new_page(viewport=VIEWPORTS[request.param])
    page.set_default_timeout(15_000)
    page.viewport_name = request.param
    page.server_url = server
    page.goto(server)
    page.wait_for_selector("#verdict [role=meter]", timeout=60_000)  # a first load on a busy machine is slow
    yield page
    page.close()


def probabilities_shown(page) -> dict[str, float]:
    """Class name -> probability, as the verdict's meters hold them (their exact values)."""
    meters = page.locator("#verdict [role=meter]")
    return {meters.nth(i).get_attribute("aria-label"): float(meters.nth(i).get_attribute("aria-valuenow"))
            for i in range(meters.count())}


def filter_rows(page, limit: int = 5) -> list[list[str]]:
    """The first rows of the filter table as the browser shows them."""
    rows = page.locator(f"#filters {BODY_ROWS}")
    return [[cell.strip() for cell in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
            for i in range(min(rows.count(), limit))]


def analyse(page, text: str, marker: str) -> None:
    page.fill("#review textarea", text)
    page.click("#analyze")
    page.wait_for_function(f"document.querySelector('#tokens').innerText.includes({marker!r})")


def in_view(page, selector: str) -> bool:
    """The element's top is on screen (give or take the few pixels a late layout shift moves it)."""
    return page.evaluate(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        f" return r.top >= -16 && r.top < window.innerHeight * 0.75; }})()"
    )


def test_opening_the_page_sends_no_request_to_the_model(browser, server):
    fresh = browser.new_page(viewport=VIEWPORTS["desktop"])
    try:
        joins = []
        fresh.on("request", lambda request: joins.append(request.url) if "/queue/join" in request.url else None)
        fresh.goto(server)
        fresh.wait_for_selector("#verdict [role=meter]", timeout=60_000)
        fresh.wait_for_timeout(500)  # the page's load event would have sent its request by now
        assert joins == []
    finally:
        fresh.close()


def test_review_is_analysed_in_one_request_and_html_is_shown_as_text(page, app, pipeline):
    joins = []
    page.on("request", lambda request: joins.append(request.url) if "/queue/join" in request.url else None)
    analyse(page, REVIEW, "zzzmarker")
    page.wait_for_timeout(300)  # a chained request would have started by now
    assert len(joins) == 1, joins

    expected = app.analyze(pipeline, REVIEW, TABLE_ROWS)
    shown = probabilities_shown(page)
    assert set(shown) == {"negative", "positive"}
    for name, probability in expected.verdict.probabilities.items():
        assert shown[name] == pytest.approx(probability, abs=1e-9)
    assert page.inner_text("#verdict .headline").strip() == expected.verdict.headline

    rows = filter_rows(page)
    assert rows, "the filter table is empty"
    for row, want in zip(rows, expected.table.rows):
        assert int(row[0]) == want[0] and float(row[1]) == pytest.approx(want[1], abs=1e-4)
        assert row[2] == want[2] and int(row[3]) == want[3]

    # typed HTML and template syntax: visible as characters, never elements, scripts never run
    assert page.locator("#injected, #injected-img").count() == 0
    assert page.locator("#tokens b, #tokens img, #tokens script, #filters img, #filters b, #chart img").count() == 0
    assert page.evaluate("window.__xss") is None
    tokens_text = page.inner_text("#tokens")
    assert "<" in tokens_text and "onerror" in tokens_text and "$" in tokens_text and "{" in tokens_text

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"app-{page.viewport_name}.png"), full_page=True)


def test_enter_analyses_and_shift_enter_starts_a_new_line(page):
    box = page.locator("#review textarea")
    box.fill("Yyymarker a dull film")
    box.press("Shift+Enter")
    box.type("second line")
    assert page.input_value("#review textarea") == "Yyymarker a dull film\nsecond line"
    box.press("Enter")
    page.wait_for_function("document.querySelector('#tokens').innerText.includes('yyymarker')")
    assert page.input_value("#review textarea") == "Yyymarker a dull film\nsecond line"  # no newline added


def test_empty_review_clears_the_numbers_and_says_so_once(page):
    analyse(page, "Xxxmarker great", "xxxmarker")
    page.fill("#review textarea", "   ")
    page.click("#analyze")
    page.wait_for_function("document.querySelector('#verdict').innerText.includes('The review is empty')")
    assert page.locator("#verdict [role=meter]").count() == 0
    assert "xxxmarker" not in page.inner_text("#tokens")
    assert page.locator(f"#filters {BODY_ROWS}").count() == 0
    assert page.get_by_text("Error", exact=True).count() == 0  # no red badges, no error toast
    assert page.locator("[data-testid='toast-body']").count() == 0


def test_an_example_runs_and_its_result_is_in_view(page):
    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Negation", exact=True).click()
    page.wait_for_function("document.querySelector('#tokens').innerText.includes('predictable')")
    assert "not bad at all" in page.input_value("#review textarea")
    page.wait_for_timeout(300)
    assert in_view(page, "#verdict")


def test_clicking_a_filter_row_shows_what_it_detects_in_view(page):
    analyse(page, "A wonderful, moving film. Not boring at all. Wwwmarker", "wwwmarker")
    rows = filter_rows(page)
    assert len(rows) >= 2
    page.locator(f"#filters {BODY_ROWS}").nth(1).locator("[role=gridcell]").first.click()
    chosen = rows[1][0]
    page.wait_for_function(
        f"document.querySelector('#filter-description').innerText.includes('Filter #{chosen} ')"
    )
    assert f"great film {chosen}" in page.inner_text("#training-ngrams")
    assert page.locator("#training-ngrams b").count() == 0  # "<b>not</b> bad" in the n-grams stays text
    page.wait_for_timeout(300)
    assert in_view(page, "#filter-description")


def test_all_filters_on_demand(page, pipeline):
    analyse(page, "Vvvmarker, a superb film", "vvvmarker")
    assert page.locator(f"#filters {BODY_ROWS}").count() == TABLE_ROWS
    page.click("#all-filters")
    rows = page.locator(f"#filters {BODY_ROWS}")
    expected = min(pipeline.model.config.num_features, 100)  # the grid renders rows as they scroll in
    page.wait_for_function(f"document.querySelectorAll({f'#filters {BODY_ROWS}'!r}).length >= {expected}")
    assert rows.count() >= expected


def test_clicking_a_token_takes_it_out_and_puts_it_back(page, app, pipeline):
    text = "Uuumarker a wonderful film"
    analyse(page, text, "uuumarker")
    tokens = pipeline.explain(text).tokens
    target = tokens.index("wonderful")
    page.locator("#tokens").get_by_text("wonderful", exact=True).click()
    page.wait_for_function("document.querySelector('#what-if').innerText.includes('Without')")
    _, expected = app.remove_tokens(pipeline, text, [target])
    what_if = page.inner_text("#what-if")
    assert "wonderful" in what_if and f"{expected.score:+.3f}" in what_if
    page.click("#restore")
    page.wait_for_function("!document.querySelector('#what-if').innerText.includes('Without')")


def test_the_address_links_to_the_analysis(page, browser):
    analyse(page, "Tttmarker: a dull, boring film", "tttmarker")
    page.wait_for_function("window.location.search.includes('review=')")
    link = page.url
    assert parse_qs(urlparse(link).query)["review"] == ["Tttmarker: a dull, boring film"]
    other = browser.new_page(viewport=VIEWPORTS["phone"])
    try:
        other.goto(link)
        other.wait_for_selector("#tokens")
        other.wait_for_function("document.querySelector('#tokens').innerText.includes('tttmarker')")
        assert other.input_value("#review textarea") == "Tttmarker: a dull, boring film"
    finally:
        other.close()


@pytest.mark.parametrize("page", ["phone"], indirect=True)
def test_phone_layout_keeps_labels_numbers_and_the_api_in_reach(page):
    analyse(page, "Sssmarker a wonderful film but a boring plot", "sssmarker")
    width = VIEWPORTS["phone"]["width"]
    # chart labels: one per bar, none overlapping another
    boxes = page.eval_on_selector_all("#chart .bar-label", "els => els.map(e => e.getBoundingClientRect().toJSON())")
    assert boxes
    for above, below in zip(boxes, boxes[1:]):
        assert above["bottom"] <= below["top"] + 0.5
    assert all(box["right"] <= width for box in boxes)
    # the table's filter and contribution columns fit on screen without scrolling it sideways
    headers = page.locator("#filters [role=columnheader]")
    for i in (0, 1):
        box = headers.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (i, box)
    # ... and their names and numbers are whole, not cut with an ellipsis
    cut = page.eval_on_selector_all(
        "#filters [role=columnheader], #filters [role=gridcell]",
        "els => els.filter(e => e.getBoundingClientRect().right <= window.innerWidth)"
        "  .flatMap(e => [e, ...e.querySelectorAll('*')])"
        "  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).textOverflow === 'ellipsis')"
        "  .map(e => e.innerText)")
    assert cut == [], cut
    first_row = filter_rows(page, 1)[0]
    assert first_row[1] and "…" not in first_row[0] + first_row[1]
    page.screenshot(path=str(ARTIFACTS / "app-phone-filters.png"), full_page=False)
    # the API page (hidden from the footer at this size) opens from a link on the page
    page.evaluate("window.scrollTo(0, 0)")
    page.click("#facts a.api-link")
    page.wait_for_function("document.body.innerText.includes('/filter_ngrams')")
    page.screenshot(path=str(ARTIFACTS / "app-phone-api.png"), full_page=False)
