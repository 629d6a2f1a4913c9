"""textcnn/serving.py and app.py's start-up: every resource an anonymous request can use is bounded.

The middleware is tested as a plain ASGI callable (what reaches the app, what is answered), then a
demo of the tiny model is served in-process with the limits of ``serving.launch`` and attacked over
loopback; app.py's import and ``main()`` run in a fresh interpreter, since they concern global state.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import pytest

from app_server import app, free_port, pipeline  # noqa: F401 (app, pipeline: shared fixtures)
from textcnn import serving

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import attack  # noqa: E402  (its plain-HTTP helpers speak to the served demo)

JSON = {"Content-Type": "application/json"}


# --- the middleware on its own -----------------------------------------------------------------------
def run_middleware(scope: dict, chunks: list[bytes], max_body_bytes: int = 100) -> tuple[list[dict], list[bytes]]:
    """(messages sent to the client, body chunks the wrapped app read) for one request."""
    received: list[bytes] = []
    sent: list[dict] = []

    async def inner_app(scope, receive, send):
        while True:
            message = await receive()
            received.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    pulled = 0

    async def receive():
        nonlocal pulled
        pulled += 1
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/gradio_api/call/predict", "client": ("127.0.0.1", 1)} | scope
    asyncio.run(serving.RequestLimits(inner_app, max_body_bytes=max_body_bytes)(scope, receive, send))
    return sent, received


def headers(**values: str) -> list[tuple[bytes, bytes]]:
    return [(k.replace("_", "-").encode(), v.encode()) for k, v in values.items()]


def test_a_declared_body_over_the_limit_is_refused_unread(caplog):
    with caplog.at_level(logging.WARNING, logger="textcnn.serving"):
        sent, received = run_middleware({"headers": headers(content_length="101")}, [b"x" * 101])
    assert sent[0]["status"] == 413 and received == []  # the app never ran, nothing was parsed
    assert len(caplog.records) == 1 and "101 bytes" in caplog.records[0].getMessage()


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit():
    chunks = [b"x" * 40] * 10  # 400 bytes without Content-Length, the limit is 100
    sent, received = run_middleware({"headers": headers(transfer_encoding="chunked")}, chunks)
    assert sent[0]["status"] == 413 and received == []


def test_a_body_within_the_limit_reaches_the_app_whole():
    sent, received = run_middleware({"headers": headers(transfer_encoding="chunked")}, [b"a" * 50, b"b" * 50])
    assert sent[0]["status"] == 200 and b"".join(received) == b"a" * 50 + b"b" * 50


def test_uploads_are_refused_without_reading_them():
    for path in ("/gradio_api/upload", "/gradio_api/upload/", "/gradio_api/process_recording"):
        sent, received = run_middleware({"path": path, "headers": headers(content_length="5")}, [b"hello"])
        assert sent[0]["status"] == 403 and received == []


def test_surrogates_in_json_bodies_are_replaced_keeping_the_length():
    body = json.dumps({"data": ["bad \ud800 film \\ud800 \U0001f600 \udfff"]}).encode()
    cleaned = serving.replace_json_surrogates(body)
    assert len(cleaned) == len(body)
    # the lone ones are replaced; an escaped backslash before "ud800" and a valid pair (the emoji) are kept
    assert json.loads(cleaned) == {"data": ["bad \ufffd film \\ud800 \U0001f600 \ufffd"]}
    raw = b'{"data": ["bad \xed\xa0\x80 film \xc3\xa9"]}'  # a surrogate as UTF-8 bytes, then a real "é"
    assert json.loads(serving.replace_json_surrogates(raw)) == {"data": ["bad \ufffd film é"]}
    assert serving.replace_surrogates("a\ud800b\udc00") == "a\ufffdb\ufffd"


def test_the_app_reads_json_bodies_without_surrogates():
    body = json.dumps({"data": ["x \ud800"]}).encode()
    _, received = run_middleware({"headers": headers(content_length=str(len(body)), content_type="application/json")},
                                 [body], max_body_bytes=1000)
    assert json.loads(b"".join(received)) == {"data": ["x \ufffd"]}


def fake_queue(in_flight: set[str], pending: dict[str, set[str]]) -> SimpleNamespace:
    return SimpleNamespace(event_ids_to_events={e: object() for e in in_flight}, pending_event_ids_session=pending)


def message_queue(unread: int) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()
    for i in range(unread):
        queue.put_nowait(i)
    return queue


def test_unread_results_are_dropped_oldest_first_and_running_calls_never():
    pending = {f"s{i}": {f"e{i}"} for i in range(6)}
    sessions = serving.BoundedSessions(fake_queue({"e0"}, pending), max_unread=2, max_sessions=100)
    for i in range(5):
        sessions[f"s{i}"] = message_queue(unread=1)  # s0 is still running, s1..s4 finished unread
    assert list(sessions) == ["s0", "s3", "s4"]  # at most 2 unread kept when a new one came
    assert "s1" not in pending and "s2" not in pending and "s0" in pending
    sessions["s5"] = message_queue(unread=0)
    assert list(sessions) == ["s0", "s4", "s5"]


def test_sessions_without_unread_results_are_capped_too():
    sessions = serving.BoundedSessions(fake_queue(set(), {}), max_unread=10, max_sessions=3)
    for i in range(5):
        sessions[f"s{i}"] = message_queue(unread=0)
    assert list(sessions) == ["s2", "s3", "s4"]
    assert isinstance(sessions, OrderedDict)


def queue_holding(*requests: SimpleNamespace) -> SimpleNamespace:
    """A stand-in for the Starlette app gradio builds: its demo's queue holds events of these requests."""
    waiting = SimpleNamespace(queue=[SimpleNamespace(request=r) for r in requests])
    queue = SimpleNamespace(event_queue_per_concurrency_id={"default": waiting}, active_jobs=[None, None])
    return SimpleNamespace(get_blocks=lambda: SimpleNamespace(_queue=queue))


def request_from(host: str, forwarded: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(client=SimpleNamespace(host=host, port=1),
                           headers={"x-forwarded-for": forwarded} if forwarded else {})


@pytest.mark.parametrize("in_flight, status", [(serving.MAX_CALLS_PER_CLIENT - 1, 200), (serving.MAX_CALLS_PER_CLIENT, 429)])
def test_a_client_with_too_many_calls_in_flight_is_refused(monkeypatch, in_flight, status):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TEXTCNN_BEHIND_PROXY", raising=False)
    monkeypatch.setattr(serving, "FINISHED_CALL_GRACE_S", 0.1)
    others = [request_from("10.0.0.9")] * 10  # another client's calls do not count
    app = queue_holding(*[request_from("10.0.0.1")] * in_flight, *others)
    sent, received = run_middleware({"app": app, "client": ("10.0.0.1", 5), "headers": headers(content_length="2")},
                                    [b"{}"])
    assert sent[0]["status"] == status
    assert (received == []) == (status == 429)  # refused before its body is read
    if status == 429:
        assert b"calls waiting or running" in sent[1]["body"]


def test_a_call_that_has_just_answered_does_not_count_against_the_next(monkeypatch):
    """A call can leave gradio's running jobs a moment after its client has the answer: the next call waits for that."""
    import threading

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TEXTCNN_BEHIND_PROXY", raising=False)
    app = queue_holding()
    jobs = app.get_blocks()._queue.active_jobs
    jobs[:] = [[SimpleNamespace(request=request_from("10.0.0.1"))] for _ in range(serving.MAX_CALLS_PER_CLIENT)]
    cleaned_up = threading.Timer(0.2, jobs.__setitem__, args=(0, None))  # the first call's job ends, after its answer
    cleaned_up.start()
    try:
        sent, received = run_middleware({"app": app, "client": ("10.0.0.1", 5), "headers": headers(content_length="2")},
                                        [b"{}"])
    finally:
        cleaned_up.join()
    assert sent[0]["status"] == 200 and received


def test_calls_let_in_together_cannot_pass_the_limit_together(monkeypatch):
    """Calls that arrive at once are counted from the moment they are let in, not once gradio has queued them."""
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TEXTCNN_BEHIND_PROXY", raising=False)
    monkeypatch.setattr(serving, "FINISHED_CALL_GRACE_S", 0.1)
    statuses: list[int] = []

    async def slow_join(scope, receive, send):  # gradio taking its time to queue the call
        await receive()
        await asyncio.sleep(0.3)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def one_call(limits):
        async def receive():
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message):
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        scope = {"type": "http", "method": "POST", "path": "/gradio_api/call/predict", "client": ("10.0.0.1", 5),
                 "headers": headers(content_length="2"), "app": queue_holding()}
        await limits(scope, receive, send)

    async def burst():
        limits = serving.RequestLimits(slow_join)
        await asyncio.gather(*(one_call(limits) for _ in range(serving.MAX_CALLS_PER_CLIENT + 3)))

    asyncio.run(burst())
    assert sorted(statuses) == [200] * serving.MAX_CALLS_PER_CLIENT + [429] * 3


@pytest.mark.parametrize("space, forwarded, expected", [
    (False, "6.6.6.6", "10.0.0.1"),  # not behind a proxy: the header is the client's own word
    (True, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # a Space: the address the proxy appended
    (True, None, "10.0.0.1"),
])
def test_the_client_address_trusts_x_forwarded_for_only_behind_a_proxy(monkeypatch, space, forwarded, expected):
    monkeypatch.delenv("TEXTCNN_BEHIND_PROXY", raising=False)
    if space:
        monkeypatch.setenv("SPACE_ID", "me/demo")
    else:
        monkeypatch.delenv("SPACE_ID", raising=False)
    assert serving.client_address(("10.0.0.1", 5), {"x-forwarded-for": forwarded} if forwarded else {}) == expected


# --- a served demo, attacked over loopback -------------------------------------------------------------
@pytest.fixture(scope="module")
def served(app, pipeline):
    """(URL, demo) of the tiny model's demo launched with every limit of textcnn.serving."""
    demo = app.build_demo(pipeline)
    serving.launch(demo, server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield demo.local_url.rstrip("/"), demo
    finally:
        demo.close()


@pytest.fixture
def log(caplog, capfd):
    """What the server wrote about the requests of one test: its log records, and its stderr."""
    capfd.readouterr()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        yield SimpleNamespace(records=lambda: [r for r in caplog.records if r.name == "textcnn.serving"],
                              all=lambda: caplog.records, stderr=lambda: capfd.readouterr().err)


def test_oversized_bodies_get_413_without_being_read(served, monkeypatch):
    """Judged by what the server read, not by what the client managed to send: the loopback sockets'
    buffers can take megabytes from the client before the server's 413 reaches it."""
    url, _ = served
    read: list[int] = []
    read_body = serving.RequestLimits.read_body

    async def counting_read_body(self, receive):
        async def counted():
            message = await receive()
            read.append(len(message.get("body", b"")))
            return message
        return await read_body(self, counted)

    monkeypatch.setattr(serving.RequestLimits, "read_body", counting_read_body)
    declared = attack.raw_request(url, attack.post_head(url, "/gradio_api/call/predict", 500 * 2**20), [])
    assert declared.status == 413 and read == []  # answered from the header alone
    streamed = attack.raw_request(url, attack.post_head(url, "/gradio_api/call/predict", None),
                                  attack.chunked(4 * 2**20))
    assert streamed.status == 413
    # reading stopped at the first message past the limit; one message holds what uvicorn buffered
    # since the last one: up to its 64 KiB high-water mark plus one 256 KiB socket read
    assert serving.MAX_BODY_BYTES < sum(read) <= serving.MAX_BODY_BYTES + 2**16 + 2**18


def test_a_long_review_under_the_limit_is_served(served):
    kind, data = attack.queued_call(served[0], "predict", ["a great film, " * 14_000])  # 196 KB
    assert kind == "complete" and data[0]["truncated"] is True


def test_uploads_are_off(served, tmp_path):
    url, demo = served
    body = b'--x\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n\r\nhello\r\n--x--\r\n'
    answer = attack.http(url, "POST", "/gradio_api/upload", body, {"Content-Type": "multipart/form-data; boundary=x"})
    assert answer.status == 403 and b"a.txt" not in answer.body


def test_model_calls_go_through_the_queue_or_nowhere(served):
    url, _ = served
    for route in ("run", "api"):
        answer = attack.json_post(url, f"/gradio_api/{route}/predict", {"data": ["a great film"]})
        assert answer.status == 404 and b"queue" in answer.body
    assert attack.queued_call(url, "predict", ["a great film"])[0] == "complete"
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    try:
        assert client.predict("a great film", api_name="/predict")["label"]
    finally:
        client.close()


def test_lone_surrogates_are_replaced_on_every_endpoint(served):
    url, _ = served
    for endpoint in ("predict", "explain"):
        kind, data = attack.queued_call(url, endpoint, ["bad \ud800 film"])
        assert kind == "complete", (endpoint, data)
    assert attack.page_call(url, "analyze_event", ["bad \ud800 film"], "surrogate-page") == "complete"
    kind, data = attack.queued_call(url, "explain", ["bad \ud800 film"])
    assert "\ufffd" in data[0]["tokens"]
    raw = b'{"data": ["bad \xed\xa0\x80 film"]}'
    joined = attack.http(url, "POST", "/gradio_api/call/predict", raw, JSON)
    assert attack.finish(url, "predict", joined) == "complete"


@pytest.mark.parametrize("method, path, payload", [
    ("GET", "/gradio_api/no-such-route", None),
    ("POST", "/gradio_api/call/no_such_api", {"data": ["x"]}),
    ("POST", "/gradio_api/call/v2/no_such_api", {"text": "x"}),
    ("POST", "/gradio_api/run/no_such_api", {"data": ["x"]}),
    ("GET", "/gradio_api/call/no_such_api/123", None),
    ("POST", "/gradio_api/queue/join", {"data": ["x"], "fn_index": 9999, "session_hash": "s"}),
])
def test_unknown_endpoints_answer_4xx_in_one_line(served, log, method, path, payload):
    body = None if payload is None else json.dumps(payload).encode()
    answer = attack.http(served[0], method, path, body, JSON if body else {})
    assert isinstance(answer.status, int) and 400 <= answer.status < 500, answer.line()
    time.sleep(0.2)
    assert len(log.records()) <= 1 and "Traceback" not in log.stderr()


@pytest.mark.parametrize("name, request_", [
    ("unknown session", lambda url: attack.http(url, "GET", "/gradio_api/queue/data?session_hash=nobody")),
    ("unknown event", lambda url: attack.http(url, "GET", "/gradio_api/call/predict/no-such-event")),
    ("invalid filter", lambda url: attack.page_call(url, "choose_filter_event", ["abc"], "bad-filter")),
    ("filter of the wrong type", lambda url: attack.page_call(url, "choose_filter_event", [{"a": [1]}], "bad-type")),
    ("oversized body", lambda url: attack.json_post(url, "/gradio_api/call/predict", {"data": ["x" * 300_000]})),
    ("upload", lambda url: attack.http(url, "POST", "/gradio_api/upload", b"x", {"Content-Type": "text/plain"})),
])
def test_a_bad_request_is_one_log_line_without_traceback(served, log, name, request_):
    request_(served[0])
    time.sleep(0.3)  # the queue's worker logs after the answer
    assert len(log.records()) == 1, [r.getMessage() for r in log.all()]
    assert "Traceback" not in log.stderr() and not any(r.exc_info for r in log.all())


def join(url: str, text: str = "a great film") -> None:
    """One call put in the queue, its result left unread (waiting while this client has too many in flight)."""
    while (status := attack.json_post(url, "/gradio_api/call/predict", {"data": [text]}).status) == 429:
        time.sleep(0.05)
    assert status == 200


def test_unread_results_are_bounded(served, app):
    url, demo = served
    for _ in range(serving.MAX_UNREAD_SESSIONS + 10):
        join(url)
        time.sleep(0.02)
    time.sleep(1)
    sessions = demo._queue.pending_messages_per_session
    unread = [key for key, messages in sessions.items() if not messages.empty()]
    # the bound is applied when a session arrives: calls still queued or running then may finish unread too
    in_flight_at_most = app.MAX_QUEUE_SIZE + app.CONCURRENCY_LIMIT
    assert isinstance(sessions, serving.BoundedSessions)
    assert 0 < len(unread) <= serving.MAX_UNREAD_SESSIONS + in_flight_at_most


def test_the_state_of_at_most_max_sessions_sessions_is_kept(served):
    url, demo = served
    for i in range(serving.MAX_SESSIONS + 20):  # each call through /call/ is a session of its own
        join(url, f"a great film {i}")
    time.sleep(0.5)
    assert serving.MAX_SESSIONS - 10 <= len(demo.state_holder.session_data) <= serving.MAX_SESSIONS


def test_a_flood_from_one_address_leaves_room_for_another(served):
    """Calls beyond the limit from 127.0.0.1 are refused at once; a visitor on 127.0.0.2 is served."""
    url, _ = served
    statuses = attack.parallel(3 * serving.MAX_CALLS_PER_CLIENT, lambda: attack.json_post(
        url, "/gradio_api/call/explain", {"data": ["a great film, " * 3_000]}))
    assert {a.status for a in statuses} <= {200, 429}
    assert attack.queued_call(url, "predict", ["a great film"], source="127.0.0.2")[0] == "complete"


# --- app.py's import and main() --------------------------------------------------------------------------
START_UP = """
import json, sys, threading
import gradio, torch
def snapshot():
    return {"threads": sorted(t.name for t in threading.enumerate()), "torch_threads": torch.get_num_threads(),
            "mkldnn": torch.backends.mkldnn.enabled}
before = snapshot()
import app
imported = snapshot()
launched = {}
app.serving.launch = lambda demo, **options: launched.update(demo=demo is app.demo, options=sorted(options))
app.main()
options = app.serving.launch_options()
print(json.dumps({"before": before, "imported": imported, "main": snapshot(), "launched": launched,
                  "has_pipeline": app.pipeline is not None,
                  "options": {k: options[k] for k in ("ssr_mode", "mcp_server", "run_history")}}))
"""


def test_importing_app_changes_nothing_and_main_tunes_then_launches(tiny_model_dir):
    env = {**os.environ, "TEXTCNN_MODEL": str(tiny_model_dir), "GRADIO_ANALYTICS_ENABLED": "False"}
    result = subprocess.run([sys.executable, "-c", START_UP], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["imported"] == record["before"]  # no thread started, no torch setting changed
    assert record["has_pipeline"]
    main = record["main"]
    assert main["torch_threads"] == 1 and main["mkldnn"] is False
    assert "malloc-trim" in main["threads"] or not Path("/lib/x86_64-linux-gnu/libc.so.6").exists()
    assert record["launched"] == {"demo": True, "options": []}
    assert record["options"] == {"ssr_mode": False, "mcp_server": True, "run_history": False}


def test_the_attack_script_quick_mode(tiny_model_dir, tmp_path):
    """The server's attacks, end to end. ``--no-cli``: the CLI's defences against the same inputs are
    tested in this process by tests/test_cli.py, without three more interpreters starting torch."""
    out = tmp_path / "attack.json"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "attack.py"), "--quick", "--no-cli", "--model",
                             str(tiny_model_dir), "--output", str(out)], cwd=REPO_ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads(out.read_text())
    assert record["passed"] and record["quick"] and record["server_alive_until_the_end"]
    attacks = {a["attack"]: a for a in record["server"]["attacks"]}
    assert len(attacks) == 15 and all(a["passed"] and a["tracebacks"] == 0 for a in attacks.values())
    assert attacks["500 MB body, declared"]["result"].startswith("413")
    assert all(a["rss_before_mb"] > 0 and a["rss_after_mb"] > 0 for a in attacks.values())
    assert record["server"]["normal_requests"]["count"] > 0 and record["server"]["normal_requests"]["failed"] == 0
    assert record["cli"] == []
    assert "| 500 MB body, declared | ok: 413" in result.stdout
