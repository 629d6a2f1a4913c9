"""Serving a Gradio demo to anonymous visitors: every resource a request can use is bounded.

Gradio's defaults suit a trusted user on a laptop; a public server needs more:

- **Request bodies** are capped at :data:`MAX_BODY_BYTES` and refused with 413 before anything parses
  them: at once when ``Content-Length`` says more, else as soon as a streamed (chunked) body passes
  the cap. Without a cap one 500 MB POST was parsed whole before the queue ever saw it.
- **Uploads are off**: the demo takes no files, so the upload routes answer 403 instead of writing
  whatever they are sent to the temp folder.
- **Direct API routes** (``/gradio_api/run/...``, ``/gradio_api/api/...``) would run the model
  outside the queue, past its size and concurrency limits; they are closed (gradio answers 404 and
  points to the queue). ``/gradio_api/call/...``, the page and ``gradio_client`` use the queue.
- **Unknown endpoints** answer 404 instead of a 500 with a traceback.
- **One log line per bad request**, never a traceback: a refused body, an unknown endpoint or
  session, a value a component does not accept.
- **Results nobody reads** are not kept without end: gradio holds each finished call's result until
  its client reads it, for up to 2,000 sessions (1.2 MB for an explanation of a long review, so up
  to gigabytes); at most :data:`MAX_UNREAD_SESSIONS` sessions' unread results are kept.
- **One client cannot fill the queue**: a client (an address; behind a Space's proxy, the address the
  proxy saw) with :data:`MAX_CALLS_PER_CLIENT` calls waiting or running is refused with 429 unless
  one of them finishes within :data:`FINISHED_CALL_GRACE_S`, so a flood from one client leaves room
  in the queue for everyone else.
- **Sessions' state** is kept for the :data:`MAX_SESSIONS` most recent sessions, not gradio's 10,000.
- **Lone surrogates** (``"bad \\ud800 film"`` in JSON, or their UTF-8 bytes) cannot be encoded as
  UTF-8, so every library downstream fails on them; they are replaced with U+FFFD in each JSON body,
  as invalid UTF-8 is, so every endpoint accepts any text a client can send.

:func:`launch` applies all of this: ``launch(demo)`` instead of ``demo.launch()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

log = logging.getLogger(__name__)

# The model reads at most 1,000 tokens: about 6 KB of English, and IMDb's longest review has 13.7 K
# characters (82 KB even with every character JSON-escaped as \uXXXX). 256 KiB leaves room for
# several times that, for the request's other fields and for text in any script, while one request
# can never hold more than a quarter of a megabyte of the server's memory before it is refused.
MAX_BODY_BYTES = 256 * 1024
# The demo has no file inputs: these routes only ever write what a client sends to the temp folder.
UPLOAD_ROUTES = ("/gradio_api/upload", "/gradio_api/process_recording")
# A page visitor has one call at a time (one per click); an API client may overlap two. More than
# this many waiting or running from one client is refused (429) until one finishes.
MAX_CALLS_PER_CLIENT = 2
# A client's next call can arrive in the moment between its last call's answer and that call leaving
# gradio's running jobs: a full count is looked at again for up to this many seconds before a 429.
FINISHED_CALL_GRACE_S = 2.0
# Routes that put a call in the queue.
_JOIN_ROUTE = re.compile(r"/gradio_api/(?:queue/join|call/v2/[^/]+|call/[^/]+)/?$")
# Routes that name an endpoint in their path; a name the demo does not have is a 404.
_NAMED_ROUTE = re.compile(r"/gradio_api/(?:call/v2|call|run|api)/([^/]+)/?(?:[^/]*)$")
# In a JSON body: an escaped backslash (kept, so that "\\ud800" stays the text it is), a valid
# surrogate pair (kept), or a lone surrogate escape (replaced by \ufffd, the same six bytes).
_JSON_ESCAPES = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
# A surrogate encoded as UTF-8 (invalid UTF-8 that Python's json reads back as a surrogate); the
# replacement U+FFFD is three bytes too, so a body's length never changes.
_UTF8_SURROGATE = re.compile(rb"\xed[\xa0-\xbf][\x80-\xbf]")
# Sessions whose calls have finished but whose results were not read yet, kept for them to be read
# (oldest dropped first): a client reads its result as soon as it is ready, so only results nobody
# collects are dropped. 10 explanations of long reviews are about 14 MB.
MAX_UNREAD_SESSIONS = 10
# Sessions whose state gradio keeps (its default is 10,000). Every call of the API, and every page
# opened, is a session, and gradio copies the whole page's configuration into each (about 0.5 MB of
# the server's memory here: the filter dropdown alone lists every filter), so the default lets anonymous calls grow the
# server by gigabytes. Past this many, the least recently used session's state goes: a visitor idle
# that long who then takes a token out starts from the whole review again.
MAX_SESSIONS = 50
_SURROGATES = re.compile("[\ud800-\udfff]")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def replace_surrogates(text: str) -> str:
    """``text`` with each lone surrogate (which UTF-8 cannot encode) replaced by U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)


def replace_json_surrogates(body: bytes) -> bytes:
    """A JSON body with its lone surrogates (escaped or as UTF-8 bytes) replaced by U+FFFD; same length."""

    def escape(match: re.Match) -> bytes:
        token = match.group()
        return b"\\ufffd" if len(token) == 6 else token

    if b"\\u" in body:
        body = _JSON_ESCAPES.sub(escape, body)
    if b"\xed" in body:
        body = _UTF8_SURROGATE.sub("\ufffd".encode(), body)
    return body


class BodyTooLarge(Exception):
    """The request's body passed the limit while it was being read."""


class RequestLimits:
    """ASGI middleware that bounds what an anonymous request can make the server do (see the module)."""

    def __init__(self, app: Callable, max_body_bytes: int = MAX_BODY_BYTES,
                 max_calls_per_client: int = MAX_CALLS_PER_CLIENT) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_calls_per_client = max_calls_per_client
        # per client: calls let in whose join has not returned yet, so not yet in gradio's queue; counted
        # with the queue's, so that calls let in together cannot pass the limit together
        self._joining: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        headers = _headers(scope)
        if scope["method"] == "POST" and path.rstrip("/").endswith(UPLOAD_ROUTES):
            await self.refuse(scope, send, 403, "this demo takes no files: uploads are off")
            return
        unknown = self.unknown_endpoint(scope, path)
        if unknown:
            await self.refuse(scope, send, 404, f"there is no endpoint /{unknown}")
            return
        has_body, declared = _has_body(headers), headers.get("content-length", "")
        if has_body and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            await self.refuse(scope, send, 413, f"a body of {int(declared):,} bytes; the limit is "
                                                f"{self.max_body_bytes:,}")
            return
        if scope["method"] == "POST" and _JOIN_ROUTE.search(path):
            client = client_address(scope.get("client"), headers)
            busy = await self.busy_calls(scope, client)
            if busy >= self.max_calls_per_client:
                await self.refuse(scope, send, 429, f"this client already has {busy} calls waiting or running; "
                                                    "send the next when one has finished")
                return
            self._joining[client] = self._joining.get(client, 0) + 1  # no await since the count: no other call saw it
            try:
                await self.forward(scope, receive, send, path, headers, has_body)
            finally:
                self._joining[client] -= 1
                if not self._joining[client]:
                    del self._joining[client]
            return
        await self.forward(scope, receive, send, path, headers, has_body)

    async def forward(self, scope: Scope, receive: Receive, send: Send, path: str, headers: Any,
                      has_body: bool) -> None:
        """The body read whole (bounded, lone surrogates replaced), then the app."""
        if has_body:
            try:
                body = await self.read_body(receive)
            except BodyTooLarge:
                await self.refuse(scope, send, 413, f"a streamed body over the limit of {self.max_body_bytes:,} bytes")
                return
            if "json" in headers.get("content-type", ""):
                body = replace_json_surrogates(body)
            receive = _replay(body, receive)
        await self.call_app(scope, receive, send, path)

    async def read_body(self, receive: Receive) -> bytes:
        """The whole body, read before the app sees it; BodyTooLarge as soon as it passes the limit."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: the app will notice too
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def call_app(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Run the app; an error it reports after its answer has started is one log line, not a traceback."""
        started = finished = False

        async def tracking_send(message: Message) -> None:
            nonlocal started, finished
            if message["type"] == "http.response.start":
                started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as error:
            from gradio.route_utils import FnIndexInferError
            from starlette.exceptions import HTTPException

            refusal = _cause(error, HTTPException)
            if not started and (_cause(error, FnIndexInferError) is not None or _raised_in(error, "get_fn")):
                await self.refuse(scope, send, 404, f"no such endpoint or function index for {path}")
                return
            if not started or refusal is None:
                raise  # a fault of the server, not of the request: keep its traceback
            # A streamed answer (server-sent events) was refused half-way, e.g. an unknown session:
            # the client already has gradio's error event; end the stream cleanly.
            _log_refusal(scope, refusal.status_code, refusal.detail or "refused")
            if not finished:
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def busy_calls(self, scope: Scope, client: str) -> int:
        """The client's calls in gradio's queue and on their way into it; while that is the limit or more,
        looked at again for up to FINISHED_CALL_GRACE_S."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FINISHED_CALL_GRACE_S
        while True:
            busy = self.calls_in_flight(scope, client) + self._joining.get(client, 0)
            if busy < self.max_calls_per_client or loop.time() >= deadline:
                return busy
            await asyncio.sleep(0.05)

    @staticmethod
    def calls_in_flight(scope: Scope, client: str) -> int:
        """How many calls of ``client`` the demo's queue holds, waiting or running (0 without a queue)."""
        queue = getattr(_blocks(scope), "_queue", None)
        if queue is None:
            return 0
        # the queues and the running jobs, not event_ids_to_events: gradio keeps an answered call there
        # until its clean-up (analytics in a thread) is done, after the client has the answer
        waiting = [event for line in list(queue.event_queue_per_concurrency_id.values()) for event in list(line.queue)]
        running = [event for job in list(queue.active_jobs) if job for event in job]
        requests = [event.request for event in waiting + running if event.request is not None]
        return sum(1 for r in requests
                   if client_address((r.client.host, r.client.port) if r.client else None, r.headers) == client)

    def unknown_endpoint(self, scope: Scope, path: str) -> str | None:
        """The endpoint a named route asks for when the demo has none of that name, else None."""
        match = _NAMED_ROUTE.search(path)
        blocks = _blocks(scope) if match else None
        try:
            names = {fn.api_name for fn in blocks.fns.values() if fn.api_name}
        except AttributeError:  # not a gradio app, or no demo attached yet: let it answer
            return None
        return None if match.group(1) in names else match.group(1)[:100]

    async def refuse(self, scope: Scope, send: Send, status: int, reason: str) -> None:
        _log_refusal(scope, status, reason)
        body = json.dumps({"detail": reason}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body, "more_body": False})


def behind_proxy() -> bool:
    """Whether requests come through a proxy that names the client in X-Forwarded-For: on a Hugging
    Face Space (which sets ``SPACE_ID``), or where ``TEXTCNN_BEHIND_PROXY=1`` says so. Elsewhere the
    header is the client's own word and is ignored."""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("TEXTCNN_BEHIND_PROXY") == "1"


def _blocks(scope: Scope) -> Any:
    """The demo behind the gradio app serving this request, or None (not a gradio app, or no demo yet)."""
    app = scope.get("app")
    try:
        return app.get_blocks() if hasattr(app, "get_blocks") else None
    except Exception:  # no demo attached yet
        return None


def client_address(peer: tuple[str, int] | None, headers: Any) -> str:
    """Who sent a request: the connection's address or, behind a proxy, the last address in
    X-Forwarded-For (the one the proxy itself saw; those before it are the client's own word)."""
    if behind_proxy():
        forwarded = [part.strip() for part in (headers.get("x-forwarded-for") or "").split(",") if part.strip()]
        if forwarded:
            return forwarded[-1]
    return peer[0] if peer else "unknown"


def _headers(scope: Scope) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}


def _has_body(headers: dict[str, str]) -> bool:
    length = headers.get("content-length", "").strip()
    return (length != "" and length != "0") or "chunked" in headers.get("transfer-encoding", "").lower()


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the client's later messages (disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _cause(error: BaseException | None, kind: type) -> Any:
    """``error`` or the first exception it was raised from that is a ``kind``, else None."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _raised_in(error: BaseException, function: str) -> bool:
    """Whether ``error`` was raised in a function of that name (gradio's endpoint lookup raises a
    bare KeyError for a function index it does not have)."""
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return trace is not None and trace.tb_frame.f_code.co_name == function


def _log_refusal(scope: Scope, status: int, reason: str) -> None:
    client = scope.get("client") or ("?", 0)
    log.warning("refused %s %s from %s: %s (%d)", scope.get("method"), scope.get("path", "")[:200], client[0],
                " ".join(str(reason).split())[:300], status)


# --- the demo's side ----------------------------------------------------------------------------
def quiet_input_errors(demo) -> None:
    """Make a value that an input component refuses (e.g. a dropdown choice that does not exist) one log
    line: gradio prints such a refusal with a full traceback, once per request."""
    from gradio.exceptions import Error

    def quiet(component) -> Callable:
        preprocess = component.preprocess

        def checked(payload: Any) -> Any:
            try:
                return preprocess(payload)
            except Error as error:
                error.print_exception = False
                message = str(error)
            except Exception as error:  # a value of the wrong shape: the client's, not the server's
                message = f"{type(error).__name__}: {error}"
            name = getattr(component, "label", None) or type(component).__name__
            log.warning("refused a value for %s: %s", name, " ".join(replace_surrogates(message).split())[:200])
            raise Error(f"This is not a valid value for '{name}'.", print_exception=False)

        checked.__wrapped__ = preprocess
        return checked

    components = {id(block): block for fn in demo.fns.values() for block in fn.inputs}
    for component in components.values():
        if not hasattr(component.preprocess, "__wrapped__"):
            component.preprocess = quiet(component)


class BoundedSessions(OrderedDict):
    """The queue's messages per session, keeping at most ``max_unread`` sessions whose results wait
    unread, and at most ``max_sessions`` in all; a session with a call queued or running is never dropped.

    Replaces gradio's ``Queue.pending_messages_per_session`` (a cache of 2,000 sessions in order of
    arrival, which would also drop a session whose call is still running, failing that call). When a
    new session arrives, the oldest sessions with finished but unread results go first (with their
    pending event ids), then, past ``max_sessions``, the oldest idle ones.
    """

    def __init__(self, queue: Any, max_unread: int = MAX_UNREAD_SESSIONS, max_sessions: int = 2000,
                 items: Any = ()) -> None:
        super().__init__()
        self.queue = queue
        self.max_unread, self.max_sessions = max_unread, max_sessions
        for key, value in dict(items).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        if key not in self:
            self.make_room()
        super().__setitem__(key, value)

    def in_flight(self, key: str) -> bool:
        events = self.queue.event_ids_to_events
        return any(event_id in events for event_id in self.queue.pending_event_ids_session.get(key, ()))

    def make_room(self) -> None:
        """Drop what must go for one more session to fit."""
        idle = [key for key in self if not self.in_flight(key)]
        unread = [key for key in idle if not OrderedDict.__getitem__(self, key).empty()]
        drop = unread[: max(0, len(unread) - self.max_unread + 1)]
        extra = len(self) - len(drop) - self.max_sessions + 1
        if extra > 0:
            kept = set(drop)
            drop += [key for key in idle if key not in kept][:extra]
        for key in drop:
            super().pop(key, None)
            self.queue.pending_event_ids_session.pop(key, None)


def bound_sessions(demo, max_unread: int = MAX_UNREAD_SESSIONS) -> None:
    """Bound the results the demo's queue keeps for clients that never read them (see BoundedSessions)."""
    queue = demo._queue  # gradio has no public setting for this
    if not isinstance(queue.pending_messages_per_session, BoundedSessions):
        queue.pending_messages_per_session = BoundedSessions(queue, max_unread,
                                                             items=queue.pending_messages_per_session)


def max_calls_per_client() -> int:
    """:data:`MAX_CALLS_PER_CLIENT`, or ``TEXTCNN_MAX_CALLS_PER_CLIENT`` where set (a load test whose
    simulated visitors all share one address raises it to their number)."""
    value = os.environ.get("TEXTCNN_MAX_CALLS_PER_CLIENT", "")
    return int(value) if value.isdigit() and int(value) > 0 else MAX_CALLS_PER_CLIENT


def launch_options() -> dict[str, Any]:
    """``demo.launch`` arguments for a public server (callers add host, port, ``prevent_thread_lock``...)."""
    from starlette.middleware import Middleware

    return {
        "ssr_mode": False,
        "mcp_server": True,
        "max_file_size": MAX_BODY_BYTES,  # a second bound on files, should an upload route open again
        "state_session_capacity": MAX_SESSIONS,
        "num_workers": 0,  # every request through this process's middleware, none to static workers
        # run history can make the server fetch up to 64 MB per request from a bucket a visitor names
        "run_history": False,
        "app_kwargs": {"middleware": [Middleware(RequestLimits, max_body_bytes=MAX_BODY_BYTES,
                                                 max_calls_per_client=max_calls_per_client())]},
    }


def prepare(demo) -> None:
    """Close the direct (queue-bypassing) API routes, quieten input refusals, bound unread results; no launch."""
    demo.api_open = False  # gradio then answers /run/ and /api/ of a queued event with 404
    quiet_input_errors(demo)
    bound_sessions(demo)


def launch(demo, **options: Any):
    """``demo.launch`` with every limit of this module; ``options`` override or add launch arguments."""
    prepare(demo)
    return demo.launch(**(launch_options() | options))
