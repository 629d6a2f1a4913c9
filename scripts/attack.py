"""Replay hostile requests against the demo and hostile input against the CLI; report what each did.

    python scripts/attack.py                          # bundled model: the full run (a few minutes on 2 cores)
    python scripts/attack.py --model /tmp/m --quick   # smaller sizes and counts: checks the script works

Starts ``python app.py`` on a free port of 127.0.0.1 (only loopback traffic), warms it with normal
requests, reads its resident memory (VmRSS) as the warm baseline, then runs each attack in turn:
oversized bodies (declared by ``Content-Length``, and streamed chunked without one), uploads, calls
past the queue, lone surrogates, unknown endpoints and sessions, invalid values, deeply nested JSON.
Meanwhile a prober sends one normal ``/predict`` request every 0.2 s through the queue, as a visitor
would, and records its latency. Per attack: the result in one line, its time, the server's RSS before
and after, the log lines it caused and whether any was a traceback.

Then the CLI (``python -m textcnn predict``): an endless line without a newline on stdin (fed up to
--cli-feed-mb, like reading /dev/zero but bounded), and lines with invalid UTF-8 / surrogate bytes;
per attack: exit status, its last message, time and peak RSS.

Goals: every attack refused with a 4xx or answered as it should, no traceback in the log, the CLI
ends by itself without a traceback; in a full run also the server's RSS within 10% of the warm
baseline and the normal request within 1 s (a quick run reports these without judging them). Prints
a table, writes JSON (--output, default benchmarks/results/attack.json), exits 1 when a goal is
missed, 2 when the app does not start.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from http.client import HTTPConnection
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for folder in (REPO_ROOT, REPO_ROOT / "scripts"):  # run as a file: benchmarks/ and load_test importable
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from benchmarks.common import QUICK_RESULTS_DIR, RESULTS_DIR, git_commit  # noqa: E402
from load_test import AppDidNotStart, log_summary, rss_kb, running_app  # noqa: E402

BUNDLED_MODEL = REPO_ROOT / "models" / "textcnn-imdb"
NORMAL_REVIEW = "A wonderful, moving film. The performances are superb and I loved every minute of it."
LONG_REVIEW = ("The acting is superb and the music is beautiful, but the plot is a mess and the ending is dull. " * 60)
GOALS = {"rss_growth_percent": 10.0, "normal_request_seconds": 1.0}
# settle_s: seconds left for the app to return freed memory (it does every 5 s) before RSS is read; a quick
# run judges neither memory nor latency, so it does not wait, and runs its CLI attacks side by side
FULL = {"declared_mb": 500, "parallel_declared_mb": 100, "parallel": 4, "chunked_mb": 8, "bursts": 40,
        "repeats": 50, "unread": 300, "cli_feed_mb": 100, "settle_s": 6, "cli_side_by_side": False}
QUICK = {"declared_mb": 500, "parallel_declared_mb": 100, "parallel": 4, "chunked_mb": 2, "bursts": 30,
         "repeats": 5, "unread": 30, "cli_feed_mb": 20, "settle_s": 0, "cli_side_by_side": True}
PROBE_EVERY = 0.2  # seconds between the prober's normal requests
PROBE_ADDRESS = "127.0.0.2"  # the normal visitor's address (loopback too); the attacks come from 127.0.0.1
SOCKET_TIMEOUT = 30.0


# --- plain HTTP on loopback, bounded ------------------------------------------------------------------
@dataclass
class Answer:
    status: int | str  # the HTTP status, or what went wrong ("reset", "timeout")
    body: bytes = b""
    sent_bytes: int = 0

    def line(self) -> str:
        text = self.body.decode("utf-8", "replace").replace("\n", " ")
        return f"{self.status} {text[:90]}".strip()


class FromAddress(urllib.request.HTTPHandler):
    """Connects from a given local address: 127.0.0.2 is loopback too, and the server sees another client."""

    def __init__(self, address: str) -> None:
        super().__init__()
        self.address = address

    def http_open(self, request):
        return self.do_open(functools.partial(HTTPConnection, source_address=(self.address, 0)), request)


def http(url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
         timeout: float = SOCKET_TIMEOUT, limit: int = 16384, source: str | None = None, polite: bool = False) -> Answer:
    """One request from ``source`` (default: 127.0.0.1). ``polite``: refused for having too many calls in flight
    (429), wait and try again, as a well-behaved client does: the attacks that are not about flooding must not
    trip over the calls of the one before, still running."""
    for _ in range(100 if polite else 1):
        answer = _send(url, method, path, body, headers, timeout, limit, source)
        if answer.status != 429 or not polite:
            break
        time.sleep(0.1)
    return answer


def _send(url: str, method: str, path: str, body: bytes | None, headers: dict | None, timeout: float, limit: int,
          source: str | None) -> Answer:
    request = urllib.request.Request(url + path, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(FromAddress(source)) if source else urllib.request.build_opener()
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, response.read(limit))
    except urllib.error.HTTPError as error:
        return Answer(error.code, error.read(limit))
    except (OSError, urllib.error.URLError) as error:
        return Answer(type(error).__name__)


def json_post(url: str, path: str, payload: object, source: str | None = None, polite: bool = False) -> Answer:
    return http(url, "POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"}, source=source,
                polite=polite)


def raw_request(url: str, head: str, chunks, timeout: float = SOCKET_TIMEOUT) -> Answer:
    """Send ``head`` then the byte chunks of ``chunks`` on one connection, stopping as soon as the server
    answers or closes; the answer's status line and body (how early it came is ``sent_bytes``)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(head.encode("latin-1"))
        connection.setblocking(False)
        received = b""
        for chunk in chunks:
            with contextlib.suppress(BlockingIOError):
                received += connection.recv(65536)
            if received:
                break
            try:
                connection.setblocking(True)
                connection.sendall(chunk)
                sent += len(chunk)
            except OSError:  # the server closed the connection after answering
                break
            finally:
                connection.setblocking(False)
        connection.setblocking(True)
        try:
            while b"\r\n\r\n" not in received or len(received) < 200:
                more = connection.recv(65536)
                if not more:
                    break
                received += more
        except (TimeoutError, socket.timeout):
            if not received:
                return Answer("timeout", sent_bytes=sent)
        except OSError:
            if not received:
                return Answer("reset", sent_bytes=sent)
    if not received:
        return Answer("closed without an answer", sent_bytes=sent)
    status_line, _, rest = received.partition(b"\r\n")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else status_line.decode("latin-1")[:40]
    return Answer(status, rest.partition(b"\r\n\r\n")[2][:300], sent)


def zeros(total: int, size: int = 64 * 1024):
    for start in range(0, total, size):
        yield b"0" * min(size, total - start)


def chunked(total: int, size: int = 64 * 1024):
    """``total`` bytes as HTTP/1.1 chunks (each announced by its length), then the last chunk."""
    for piece in zeros(total, size):
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def queued_call(url: str, endpoint: str, data: list, timeout: float = SOCKET_TIMEOUT,
                source: str | None = None, polite: bool = True) -> tuple[str, object]:
    """("complete" | "error" | "refused <status>", data) of one call through the queue (/call/ then its events);
    ``polite``: wait and retry while this client has too many calls in flight."""
    joined = json_post(url, f"/gradio_api/call/{endpoint}", {"data": data}, source, polite)
    if joined.status != 200:
        return f"refused {joined.status}", joined.body.decode("utf-8", "replace")[:200]
    event_id = json.loads(joined.body)["event_id"]
    stream = http(url, "GET", f"/gradio_api/call/{endpoint}/{event_id}", timeout=timeout, source=source)
    kind, payload = "no answer", None
    for line in stream.body.decode("utf-8", "replace").splitlines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind in ("complete", "error"):
            with contextlib.suppress(ValueError):
                payload = json.loads(line.removeprefix("data: "))
            return kind, payload
    return kind, payload


def page_call(url: str, event: str, data: list, session: str) -> str:
    """"complete" or "error": one page event (named ``event`` in the config) sent as the page sends it."""
    config = json.loads(http(url, "GET", "/config", limit=10_000_000).body)
    index = next(d["id"] for d in config["dependencies"] if d.get("api_name") == event)
    joined = json_post(url, "/gradio_api/queue/join", {"data": data, "fn_index": index, "session_hash": session,
                                                       "trigger_id": None}, polite=True)
    if joined.status != 200:
        return f"refused {joined.status}"
    stream = http(url, "GET", f"/gradio_api/queue/data?session_hash={session}", limit=10_000_000)
    text = stream.body.decode("utf-8", "replace").replace(" ", "")
    return "complete" if '"success":true' in text else "error"


# --- the prober: a normal visitor while the attacks run ----------------------------------------------
class Prober:
    """Another visitor: one normal /predict call every PROBE_EVERY seconds, from PROBE_ADDRESS (so the
    server tells it from the attacker on 127.0.0.1); keeps (start, seconds, ok) of each."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.probes: list[tuple[float, float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                kind, data = queued_call(self.url, "predict", [NORMAL_REVIEW], timeout=10, source=PROBE_ADDRESS)
                ok = kind == "complete" and isinstance(data, list) and data and data[0].get("label") is not None
            except Exception:  # a malformed answer is a failed probe, not the end of probing
                ok = False
            self.probes.append((started, time.monotonic() - started, bool(ok)))
            self._stop.wait(PROBE_EVERY)

    def between(self, start: float, end: float) -> list[tuple[float, float, bool]]:
        return [p for p in self.probes if start <= p[0] <= end or start <= p[0] + p[1] <= end]

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


# --- the attacks on the server -----------------------------------------------------------------------
def post_head(url: str, path: str, length: int | None, content_type: str = "application/json") -> str:
    host = url.removeprefix("http://")
    size = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n{size}\r\n"


def parallel(count: int, target: Callable[[], Answer]) -> list[Answer]:
    answers: list[Answer] = []
    lock = threading.Lock()

    def run() -> None:
        answer = target()
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SOCKET_TIMEOUT * 2)
    return answers


def counts(values: list) -> str:
    tally: dict[str, int] = {}
    for value in values:
        tally[str(value)] = tally.get(str(value), 0) + 1
    return ", ".join(f"{n}× {value}" for value, n in sorted(tally.items()))


def expect(condition: bool, summary: str) -> tuple[bool, str]:
    return condition, summary


def server_attacks(url: str, sizes: dict, temp_dir: Path) -> list[tuple[str, Callable[[], tuple[bool, str]]]]:
    mb = 1024 * 1024

    def declared_body() -> tuple[bool, str]:
        size = sizes["declared_mb"] * mb
        answer = raw_request(url, post_head(url, "/gradio_api/call/predict", size), zeros(size))
        return expect(answer.status == 413, f"{answer.status} after {answer.sent_bytes / mb:.1f} MB sent "
                                            f"of {sizes['declared_mb']} MB declared")

    def parallel_declared() -> tuple[bool, str]:
        size = sizes["parallel_declared_mb"] * mb
        answers = parallel(sizes["parallel"], lambda: raw_request(url, post_head(url, "/gradio_api/run/predict", size),
                                                                  zeros(size)))
        return expect(all(a.status == 413 for a in answers), counts([a.status for a in answers]))

    def chunked_body() -> tuple[bool, str]:
        size = sizes["chunked_mb"] * mb
        answer = raw_request(url, post_head(url, "/gradio_api/call/predict", None), chunked(size))
        return expect(answer.status == 413, f"{answer.status} after {answer.sent_bytes / 1024:.0f} KB of a "
                                            f"{sizes['chunked_mb']} MB chunked body")

    def just_over_limit() -> tuple[bool, str]:
        text = "great film " * 30_000  # 330 KB of JSON, honestly declared
        answer = json_post(url, "/gradio_api/call/predict", {"data": [text]})
        return expect(answer.status == 413, answer.line())

    def long_review_under_limit() -> tuple[bool, str]:
        text = "a great film, " * 14_000  # 196 KB: far more than the model reads, under the limit
        kind, data = queued_call(url, "predict", [text])
        ok = kind == "complete" and data[0]["truncated"] is True
        return expect(ok, f"{kind}: {json.dumps(data)[:80]}")

    def uploads() -> tuple[bool, str]:
        before = folder_bytes(temp_dir)
        body = (b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.bin"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n" + b"0" * mb + b"\r\n--x--\r\n")
        answers = [raw_request(url, post_head(url, path, len(body), "multipart/form-data; boundary=x"),
                               [body[i:i + 65536] for i in range(0, len(body), 65536)])
                   for path in ("/gradio_api/upload", "/gradio_api/upload?upload_id=abc", "/gradio_api/process_recording")]
        written = folder_bytes(temp_dir) - before
        return expect(all(a.status == 403 for a in answers) and written <= 0,
                      f"{counts([a.status for a in answers])}; temp folder +{written} bytes")

    def queue_bypass() -> tuple[bool, str]:
        direct = parallel(sizes["bursts"], lambda: json_post(url, "/gradio_api/run/predict", {"data": [NORMAL_REVIEW]}))
        legacy = parallel(sizes["bursts"], lambda: json_post(url, "/gradio_api/api/predict", {"data": [NORMAL_REVIEW]}))
        ran = [a for a in direct + legacy if a.status == 200]
        return expect(not ran, f"/run/: {counts([a.status for a in direct])}; /api/: {counts([a.status for a in legacy])}")

    def queue_burst() -> tuple[bool, str]:
        results = parallel(sizes["bursts"], lambda: Answer(queued_call(url, "predict", [NORMAL_REVIEW], polite=False)[0]))
        statuses = [a.status for a in results]
        ok = all(s in ("complete", "refused 503", "refused 429") for s in statuses)
        return expect(ok, counts(statuses))

    def surrogates() -> tuple[bool, str]:
        results = []
        for endpoint, data in (("predict", ["bad \ud800 film"]), ("explain", ["bad \udfff film \ud83d"]),
                               ("filter_ngrams", ["\ud800"])):
            body = json.dumps({"data": data}).encode()  # json escapes each as \\udXXX
            joined = http(url, "POST", f"/gradio_api/call/{endpoint}", body, {"Content-Type": "application/json"},
                          polite=True)
            results.append(f"{endpoint}: {finish(url, endpoint, joined)}")
        # the same as raw UTF-8 bytes of a surrogate (what a broken client may send)
        raw = b'{"data": ["bad \xed\xa0\x80 film"]}'
        joined = http(url, "POST", "/gradio_api/call/predict", raw, {"Content-Type": "application/json"}, polite=True)
        results.append(f"predict (UTF-8 bytes): {finish(url, 'predict', joined)}")
        page = page_call(url, "analyze_event", ["bad \ud800 film"], "surrogate-page")
        results.append(f"page analysis: {page}")
        ok = all(r.endswith("complete") for r in results if not r.startswith("filter_ngrams"))
        ok = ok and results[2].endswith("error")  # not a filter number: refused in one line
        return expect(ok, "; ".join(results))

    def client_call() -> tuple[bool, str]:
        from gradio_client import Client  # the client itself cannot send a lone surrogate (UTF-8): a normal call

        client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
        try:
            result = client.predict("bad \ufffd film", api_name="/explain")
        finally:
            with contextlib.suppress(Exception):
                client.close()
        return expect("\ufffd" in result.get("tokens", []), f"gradio_client /explain tokens {result.get('tokens')}")

    def unknown_sessions() -> tuple[bool, str]:
        answers = [http(url, "GET", f"/gradio_api/queue/data?session_hash=nobody{i}") for i in range(sizes["repeats"])]
        answers += [http(url, "GET", f"/gradio_api/call/predict/no-such-event-{i}") for i in range(sizes["repeats"])]
        return expect(all(a.status in (200, 404) for a in answers), counts([a.status for a in answers]))

    def invalid_values() -> tuple[bool, str]:
        values = ["abc", -1, 10**9, [1, 2], {"a": 1}, 3.5, None, True]
        kinds = []
        for i in range(sizes["repeats"]):
            value = values[i % len(values)]
            kinds.append(page_call(url, "choose_filter_event", [value], f"invalid-{i}"))
            kinds.append(queued_call(url, "filter_ngrams", [value])[0])
            kinds.append(queued_call(url, "predict", [value])[0])
        return expect(all(k in ("complete", "error") for k in kinds), counts(kinds))

    def unknown_endpoints() -> tuple[bool, str]:
        answers = [
            http(url, "GET", "/gradio_api/no-such-route"),
            json_post(url, "/gradio_api/call/no_such_api", {"data": ["x"]}),
            json_post(url, "/gradio_api/call/v2/no_such_api", {"text": "x"}),
            json_post(url, "/gradio_api/run/no_such_api", {"data": ["x"]}),
            json_post(url, "/gradio_api/api/no_such_api", {"data": ["x"]}),
            json_post(url, "/gradio_api/queue/join", {"data": ["x"], "fn_index": 9999, "session_hash": "s1"}),
            json_post(url, "/gradio_api/queue/join", {"data": ["x"], "session_hash": "s2"}),
            http(url, "GET", "/gradio_api/call/no_such_api/123"),
        ]
        statuses = [a.status for a in answers]
        return expect(all(isinstance(s, int) and 400 <= s < 500 for s in statuses), counts(statuses))

    def bad_json() -> tuple[bool, str]:
        deep = b'{"data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
        answers = [
            http(url, "POST", "/gradio_api/call/predict", deep, {"Content-Type": "application/json"}),
            http(url, "POST", "/gradio_api/call/predict", b'{"data": ', {"Content-Type": "application/json"}),
            http(url, "POST", "/gradio_api/call/predict", b"\xff\xfe garbage", {"Content-Type": "application/json"}),
            http(url, "POST", "/gradio_api/call/predict", b'{"data": "not a list"}', {"Content-Type": "application/json"}),
        ]
        statuses = [a.status for a in answers]
        return expect(all(isinstance(s, int) and 400 <= s < 500 for s in statuses), counts(statuses))

    def unread_results() -> tuple[bool, str]:
        """Many calls whose results are never collected: the server must not keep them all."""
        sent = refused = limited = 0
        for _ in range(sizes["unread"]):
            joined = json_post(url, "/gradio_api/call/explain", {"data": [LONG_REVIEW]})
            sent += joined.status == 200
            refused += joined.status == 503
            limited += joined.status == 429
            time.sleep(0.01)
        time.sleep(2)  # let the queue finish them
        return expect(True, f"{sent} submitted, {limited} refused (calls per client), {refused} refused (queue full), "
                            "none read")

    return [
        ("500 MB body, declared", declared_body),
        ("4 × 100 MB bodies in parallel, declared", parallel_declared),
        ("chunked body, no Content-Length", chunked_body),
        ("330 KB review, declared", just_over_limit),
        ("196 KB review (under the limit)", long_review_under_limit),
        ("1 MB uploads", uploads),
        ("direct routes past the queue", queue_bypass),
        ("queue burst", queue_burst),
        ("lone surrogates", surrogates),
        ("gradio_client through the limits", client_call),
        ("unknown sessions and events", unknown_sessions),
        ("invalid values", invalid_values),
        ("unknown endpoints", unknown_endpoints),
        ("malformed and deeply nested JSON", bad_json),
        ("results never read", unread_results),
    ]


def finish(url: str, endpoint: str, joined: Answer) -> str:
    if joined.status != 200:
        return f"refused {joined.status}"
    event_id = json.loads(joined.body)["event_id"]
    stream = http(url, "GET", f"/gradio_api/call/{endpoint}/{event_id}").body.decode("utf-8", "replace")
    return "complete" if "event: complete" in stream else "error" if "event: error" in stream else "no answer"


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


# --- the CLI ------------------------------------------------------------------------------------------
def cli_attack(model: str, feed: Callable[[subprocess.Popen], None], timeout: float) -> dict:
    """Run ``python -m textcnn predict --model model`` with ``feed`` writing its stdin; exit, message, peak RSS."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "textcnn", "predict", "--model", model, "--workers", "1"]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    peak_kb = 0
    outputs: dict[str, bytes] = {}

    def read(name: str, stream) -> None:
        outputs[name] = stream.read()[-4000:]

    readers = [threading.Thread(target=read, args=(n, s), daemon=True)
               for n, s in (("stdout", process.stdout), ("stderr", process.stderr))]
    feeder = threading.Thread(target=feed, args=(process,), daemon=True)
    for thread in (*readers, feeder):
        thread.start()
    killed = False
    while process.poll() is None:
        with contextlib.suppress(OSError, RuntimeError):
            peak_kb = max(peak_kb, rss_kb(process.pid, "VmHWM"))
        if time.monotonic() - started > timeout:
            process.kill()
            killed = True
            break
        time.sleep(0.05)
    process.wait()
    for thread in (*readers, feeder):
        thread.join(timeout=5)
    stderr = outputs.get("stderr", b"").decode("utf-8", "replace").strip().splitlines()
    stdout = outputs.get("stdout", b"").decode("utf-8", "replace").strip().splitlines()
    return {"exit": process.returncode, "killed_after_timeout": killed, "seconds": round(time.monotonic() - started, 2),
            "peak_rss_mb": round(peak_kb / 1024, 1), "last_stderr": stderr[-1][:200] if stderr else "",
            "stderr_tail": "\n".join(stderr[-20:]),
            "stdout_lines": len(stdout), "first_stdout": stdout[0][:200] if stdout else ""}


def endless_line(megabytes: int) -> Callable[[subprocess.Popen], None]:
    """Write ``megabytes`` MB of b"0" without a newline (a bounded /dev/zero), then close stdin."""

    def feed(process: subprocess.Popen) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            for chunk in zeros(megabytes * 1024 * 1024, 1024 * 1024):
                process.stdin.write(chunk)
            process.stdin.close()

    return feed


def lines(data: bytes) -> Callable[[subprocess.Popen], None]:
    def feed(process: subprocess.Popen) -> None:
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            process.stdin.write(data)
            process.stdin.close()

    return feed


def run_cli_attacks(model: str, sizes: dict) -> list[dict]:
    mb = sizes["cli_feed_mb"]
    cases = [
        (f"{mb} MB line without a newline (bounded /dev/zero)", endless_line(mb)),
        ("surrogates and invalid UTF-8", lines(b"bad \xed\xa0\x80 film\ngood \xff\xfe film\nfine film \\ud800\n")),
        ("NUL bytes and control characters", lines(b"good\x00movie\x01\x02 \x1b[31mbad\x7f\n")),
    ]
    def attack(name: str, feed: Callable[[subprocess.Popen], None]) -> dict:
        return {**cli_attack(model, feed, timeout=120), "attack": name}

    if not sizes["cli_side_by_side"]:
        return [attack(name, feed) for name, feed in cases]
    with ThreadPoolExecutor(len(cases)) as pool:
        return list(pool.map(attack, *zip(*cases)))


# --- the run ------------------------------------------------------------------------------------------
@dataclass
class AttackResult:
    attack: str
    passed: bool
    result: str
    seconds: float
    rss_before_mb: float
    rss_after_mb: float
    log_lines: int
    tracebacks: int
    normal_requests: int = 0
    normal_max_seconds: float | None = None
    normal_failed: int = 0
    first_traceback: str = field(default="", repr=False)


def log_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def warm_up(url: str, count: int) -> None:
    for i in range(count):
        queued_call(url, "predict" if i % 2 else "explain", [f"{NORMAL_REVIEW} {i}" if i % 3 else LONG_REVIEW])


def attack_server(url: str, pid: int, log_path: Path, sizes: dict, temp_dir: Path, warmup: int) -> dict:
    warm_up(url, warmup)
    time.sleep(sizes["settle_s"])
    baseline_kb = rss_kb(pid)
    results: list[AttackResult] = []
    with Prober(url) as prober:
        for name, attack in server_attacks(url, sizes, temp_dir):
            before_kb, log_before = rss_kb(pid), len(log_text(log_path).splitlines())
            started = time.monotonic()
            try:
                passed, summary = attack()
            except Exception as error:  # an attack the script itself could not run is a failure, named
                passed, summary = False, f"the attack failed: {type(error).__name__}: {error}"[:300]
            ended = time.monotonic()
            time.sleep(0.5)  # the prober overlaps the attack's end
            new_lines = log_text(log_path).splitlines()[log_before:]
            logged = log_summary("\n".join(new_lines))
            probes = prober.between(started, ended)
            results.append(AttackResult(
                attack=name, passed=passed, result=summary, seconds=round(ended - started, 2),
                rss_before_mb=round(before_kb / 1024, 1), rss_after_mb=round(rss_kb(pid) / 1024, 1),
                log_lines=len(new_lines), tracebacks=logged["tracebacks"], normal_requests=len(probes),
                normal_max_seconds=round(max(p[1] for p in probes), 3) if probes else None,
                normal_failed=sum(not p[2] for p in probes), first_traceback=logged["first_traceback"],
            ))
        all_probes = list(prober.probes)
    time.sleep(sizes["settle_s"])
    settled_kb = rss_kb(pid)
    latencies = sorted(p[1] for p in all_probes)
    return {
        "baseline_rss_mb": round(baseline_kb / 1024, 1),
        "peak_after_attack_rss_mb": max(r.rss_after_mb for r in results),
        "settled_rss_mb": round(settled_kb / 1024, 1),
        "rss_growth_percent": round(100 * max(r.rss_after_mb * 1024 for r in results) / baseline_kb - 100, 1),
        "settled_growth_percent": round(100 * settled_kb / baseline_kb - 100, 1),
        "normal_requests": {
            "count": len(latencies), "failed": sum(not p[2] for p in all_probes),
            "median_s": round(statistics.median(latencies), 3) if latencies else None,
            "max_s": round(latencies[-1], 3) if latencies else None,
        },
        "attacks": [asdict(r) for r in results],
    }


def failures(record: dict) -> list[str]:
    """What went wrong: an attack not refused or answered as it should, a traceback, the server's death, a CLI
    run that hung or crashed; and, in a full run, memory or latency past the goals (a quick run is too short
    and too small to measure them: it checks the script and the behaviour only)."""
    server = record["server"]
    problems = [f"{a['attack']}: {a['result']}" for a in server["attacks"] if not a["passed"]]
    problems += [f"{a['attack']}: {a['tracebacks']} traceback(s) in the log" for a in server["attacks"] if a["tracebacks"]]
    if not record["server_alive_until_the_end"]:
        problems.append("the server died")
    for c in record["cli"]:
        if c["killed_after_timeout"] or "Traceback" in c["stderr_tail"]:
            problems.append(f"CLI, {c['attack']}: {'hung' if c['killed_after_timeout'] else 'a traceback'}")
    if record["quick"]:
        return problems
    if server["rss_growth_percent"] > GOALS["rss_growth_percent"]:
        problems.append(f"RSS grew {server['rss_growth_percent']}% over the warm baseline "
                        f"({server['baseline_rss_mb']} MB; goal ≤ {GOALS['rss_growth_percent']}%)")
    normal = server["normal_requests"]
    if normal["max_s"] is None or normal["max_s"] > GOALS["normal_request_seconds"] or normal["failed"]:
        problems.append(f"normal requests during the attacks: max {normal['max_s']} s, {normal['failed']} failed "
                        f"(goal ≤ {GOALS['normal_request_seconds']} s, none failed)")
    return problems


def report(record: dict) -> str:
    server = record["server"]
    rows = ["| attack | result | s | RSS before → after (MB) | log lines | normal request max (s) |",
            "|---|---|---:|---|---:|---:|"]
    for a in server["attacks"]:
        mark = "ok" if a["passed"] and not a["tracebacks"] else "FAIL"
        rows.append(f"| {a['attack']} | {mark}: {a['result'][:110]} | {a['seconds']} | {a['rss_before_mb']} → "
                    f"{a['rss_after_mb']} | {a['log_lines']}{' (traceback)' if a['tracebacks'] else ''} | "
                    f"{a['normal_max_seconds']} |")
    normal = server["normal_requests"]
    rows += ["", f"Server RSS: warm baseline {server['baseline_rss_mb']} MB, highest after an attack "
             f"{server['peak_after_attack_rss_mb']} MB ({server['rss_growth_percent']:+.1f}%), settled "
             f"{server['settled_rss_mb']} MB ({server['settled_growth_percent']:+.1f}%).",
             f"Normal /predict during the attacks: {normal['count']} requests, {normal['failed']} failed, median "
             f"{normal['median_s']} s, max {normal['max_s']} s.", "",
             "| CLI attack | exit | s | peak RSS (MB) | last message |", "|---|---:|---:|---:|---|"]
    for c in record["cli"]:
        exit_code = "killed" if c["killed_after_timeout"] else c["exit"]
        rows.append(f"| {c['attack']} | {exit_code} | {c['seconds']} | {c['peak_rss_mb']} | "
                    f"{c['last_stderr'] or c['first_stdout']} |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(BUNDLED_MODEL), help="model folder (default: the bundled model)")
    p.add_argument("--quick", action="store_true", help="smaller sizes and counts: checks the script works")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON results (default: benchmarks/results/attack.json, or results/quick/ with --quick)")
    p.add_argument("--no-cli", action="store_true", help="attack only the server")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for app.py to answer")
    args = p.parse_args(argv)
    args.output = args.output or (QUICK_RESULTS_DIR if args.quick else RESULTS_DIR) / "attack.json"
    return args


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    sizes = QUICK if args.quick else FULL
    side_by_side = ThreadPoolExecutor(1) if sizes["cli_side_by_side"] and not args.no_cli else None
    cli_later = side_by_side.submit(run_cli_attacks, args.model, sizes) if side_by_side else None
    with tempfile.TemporaryDirectory(prefix="attack-") as scratch:
        scratch_path = Path(scratch)
        temp_dir = scratch_path / "gradio-temp"
        log_path = scratch_path / "app.log"
        previous = os.environ.get("GRADIO_TEMP_DIR")
        os.environ["GRADIO_TEMP_DIR"] = str(temp_dir)  # where uploads would land, to see that none do
        try:
            with running_app(args.model, None, log_path, args.startup_timeout) as (url, process):
                server = attack_server(url, process.pid, log_path, sizes, temp_dir, warmup=10 if args.quick else 60)
                alive = process.poll() is None
        finally:
            if previous is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = previous
        server["temp_folder_bytes_after_shutdown"] = folder_bytes(temp_dir)
    if side_by_side:
        cli = cli_later.result()
        side_by_side.shutdown()
    else:
        cli = [] if args.no_cli else run_cli_attacks(args.model, sizes)
    record = {
        "command": "python scripts/attack.py " + " ".join(argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "quick": args.quick,
        "model": args.model,
        "sizes": sizes,
        "goals": GOALS,
        "server": server,
        "server_alive_until_the_end": alive,
        "cli": cli,
    }
    record["failures"] = failures(record)
    record["passed"] = not record["failures"]
    return record


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        record = run(args, argv)
    except AppDidNotStart as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report(record))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    for problem in record["failures"]:
        print(f"FAILED: {problem}")
    print(f"wrote {args.output}")
    return 0 if record["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
