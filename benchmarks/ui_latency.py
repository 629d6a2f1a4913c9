"""How long a visitor waits: from clicking Analyze to the new prediction on screen, in a real browser.

    python benchmarks/ui_latency.py                 # the bundled model, 40 clicks per viewport
    python benchmarks/ui_latency.py --quick         # 5 clicks per viewport (what CI runs)
    python benchmarks/ui_latency.py --url http://127.0.0.1:7860/   # an app that is already running

Starts ``python app.py`` on a free port (unless ``--url``), opens it in headless Chromium (Debian's
package, driven by Playwright) at a desktop (1366x900) and a phone (390x844) viewport, and for each
click types a review (the demo's examples in turn, short to long, each with a fresh marker word),
clicks Analyze, and waits until the page shows the analysis of that text. The time is measured in
the page (``performance.now()`` from the click to the first frame that shows the marker), so it
includes the request, the model, the response and the rendering, and nothing of Playwright's own
round trips. It also counts the requests each click sends to the queue. Prints median, p90 and max
per viewport and writes JSON like the other benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
GOALS_MS = {"median_ms": 300.0, "p90_ms": 600.0}  # on the idle 2-core machine
WARM_UP_CLICKS = 3  # per viewport, not counted: the first requests warm caches on both sides
START_TIMEOUT_S = 180

# clicks Analyze and resolves with the milliseconds until a frame shows ``marker`` among the tokens
CLICK_AND_WAIT = """
async (marker) => {
  const started = performance.now();
  document.querySelector('#analyze').click();
  await new Promise((resolve) => {
    const check = () => document.querySelector('#tokens').innerText.includes(marker)
      ? resolve() : requestAnimationFrame(check);
    check();
  });
  return performance.now() - started;
}
"""


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--clicks", type=int, default=None, help="timed clicks per viewport (default 40; 5 with --quick)")
    p.add_argument("--url", default=None, help="measure an app that is already running at this URL")
    args = p.parse_args(argv)
    args.clicks = args.clicks or (5 if args.quick else 40)
    return args


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def running_app(model: str) -> Iterator[str]:
    """``python app.py --model MODEL`` on a free port, as it is served; yields its URL."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, str(common.REPO_ROOT / "app.py"), "--model", model],
                               cwd=common.REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                sys.exit(f"error: the app did not start: {process.stderr.read().decode(errors='replace').strip()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit(f"error: the app did not answer at {url} within {START_TIMEOUT_S} s")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def marker(i: int) -> str:
    """A word made of letters only (the tokenizer keeps it whole), different for every click."""
    letters = ""
    while True:
        i, digit = divmod(i, 26)
        letters += chr(ord("a") + digit)
        if i == 0:
            return f"zq{letters}marker"


def measure(url: str, clicks: int) -> dict:
    from playwright.sync_api import sync_playwright

    import app  # the demo's examples: what a visitor clicks first

    texts = [text for _, text in app.EXAMPLES]
    results = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for name, viewport in VIEWPORTS.items():
                page = browser.new_page(viewport=viewport)
                page.set_default_timeout(60_000)
                joins: list[str] = []
                page.on("request", lambda r, joins=joins: joins.append(r.url) if "/queue/join" in r.url else None)
                page.goto(url)
                page.wait_for_selector("#review textarea")
                page.wait_for_selector("#tokens")
                seconds, requests = [], []
                for i in range(WARM_UP_CLICKS + clicks):
                    word = marker(len(VIEWPORTS) * 1000 * list(VIEWPORTS).index(name) + i)
                    page.fill("#review textarea", f"{word} {texts[i % len(texts)]}")
                    before = len(joins)
                    ms = page.evaluate(CLICK_AND_WAIT, word)
                    page.wait_for_timeout(50)  # a chained second request would have been sent by now
                    if i >= WARM_UP_CLICKS:
                        seconds.append(ms / 1000)
                        requests.append(len(joins) - before)
                page.close()
                results[name] = {**common.latency_summary(seconds),
                                 "requests_per_click": sorted(set(requests)),
                                 "viewport": f"{viewport['width']}x{viewport['height']}"}
        finally:
            browser.close()
    return results


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"error: needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)")
    os.environ.setdefault("TEXTCNN_MODEL", args.model)  # the examples come from app.py, which loads a model
    info = common.machine()
    load_before = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        url = args.url or stack.enter_context(running_app(args.model))
        print(f"measuring {url} ({args.clicks} clicks per viewport after {WARM_UP_CLICKS} warm-up clicks); "
              f"{common.describe_machine(info)}")
        viewports = measure(url, args.clicks)
    load_after = os.getloadavg()[0]

    rows = [[name, r["viewport"], r["calls"], r["median_ms"], r["p90_ms"], r["max_ms"],
             ", ".join(map(str, r["requests_per_click"]))] for name, r in viewports.items()]
    print()
    print(common.markdown_table(["viewport", "size", "clicks", "median ms", "p90 ms", "max ms", "requests/click"],
                                rows))
    met = {name: all(r[key] <= goal for key, goal in GOALS_MS.items()) for name, r in viewports.items()}
    print(f"\ngoal (median <= {GOALS_MS['median_ms']:.0f} ms, p90 <= {GOALS_MS['p90_ms']:.0f} ms): "
          + ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in met.items())
          + f"; load average {load_before:.2f} before, {load_after:.2f} after, on {info['cpu_cores']} cores")
    results = {"url": args.url, "model": args.model, "warm_up_clicks": WARM_UP_CLICKS, "viewports": viewports,
               "goals_ms": GOALS_MS, "goal_met": met,
               "load_average_1min": {"before": round(load_before, 2), "after": round(load_after, 2)}}
    common.write_results("ui_latency", args, argv, results, info)
    return results


if __name__ == "__main__":
    main()
