"""Load test of the demo: app.py on 127.0.0.1, driven by concurrent gradio_client users for a bounded time.

    python scripts/load_test.py                                   # bundled model, 16 users, 25 s
    python scripts/load_test.py --model /tmp/load-model --duration 30
    python scripts/load_test.py --quick                           # 2 users, 3 s: checks the script works

Starts ``python app.py`` on a free port of 127.0.0.1 and waits until it answers. Each user is a
thread with its own ``gradio_client.Client`` calling ``/predict`` and ``/explain`` in turn, one
request at a time, with real IMDb test reviews (each sent once: new text for the tokenizer, as from
real visitors) and, every fifth request, one of the shared hostile inputs. The empty ones must
be refused with the app's "The review is empty" message (counted as expected errors); every other
request must get a well-formed prediction within --request-timeout.

Phases: a warm-up (each user sends every hostile input once, then the usual mix for --warmup
seconds); the server's RSS (VmRSS of its /proc status) with no request in
flight; the measured run; the RSS again once idle. Then a burst of --burst simultaneous requests,
more than the app's queue holds (20 waiting, 2 running), checks that the excess is refused at once
with "Queue is full" and that nothing hangs (tests/test_app.py checks the refusal deterministically).

app.py inherits this script's environment: ``MALLOC_ARENA_MAX=2 python scripts/load_test.py`` measures
the server as it would run with that setting (glibc's per-thread heaps held ~40 MB more after 1,300
requests without it).

Reports requests served, unexpected errors, median and 99th-percentile latency per endpoint,
throughput and the RSS growth; writes JSON (--output). Exits 1 when any request failed unexpectedly
or hung, the server logged a traceback or died, the RSS grew more than --max-rss-growth percent, or
the burst got anything but answers and "Queue is full" refusals; exits 2 when the app does not start.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import math
import os
import random
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # run as a file: make benchmarks/ importable
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import hostile  # noqa: E402
from benchmarks.common import LOCAL_IMDB, RESULTS_DIR, QUICK_RESULTS_DIR, git_commit, latency_summary, markdown_table  # noqa: E402

APP = REPO_ROOT / "app.py"
BUNDLED_MODEL = REPO_ROOT / "models" / "textcnn-imdb"
ENDPOINTS = ("/predict", "/explain")
EMPTY_MESSAGE = "The review is empty"  # what app.py answers for text without tokens
QUEUE_FULL_MESSAGE = "queue is full"  # gradio's refusal, lowercased
HOSTILE_EVERY = 5  # every fifth request of a user is a hostile input
DEFAULTS = {"users": 16, "duration": 25.0, "warmup": 5.0, "burst": 60}
QUICK = {"users": 2, "duration": 3.0, "warmup": 1.0, "burst": 30}


# --- inputs -----------------------------------------------------------------------------------------
def hostile_inputs() -> dict[str, str]:
    """The hostile inputs that fit in one request to the app (the same in every run), by name."""
    fits = {name: text for name, text in hostile.REVIEWS.items() if len(text.encode()) < 200_000}
    # under the app's 256 KiB request limit
    return {**hostile.EMPTY, **fits, "200 KB review": "This film was great, I loved it. " * 6_000}


def is_expected_refusal(name: str) -> bool:
    return name in hostile.EMPTY


def synthetic_reviews(count: int, seed: int = 0) -> list[str]:
    """Review-like texts for when there is no local IMDb copy."""
    rng = random.Random(seed)
    words = ("the film movie plot acting story was is and a it this great awful boring wonderful dull "
             "moving superb waste loved hated funny mess brilliant terrible not very really").split()
    return [" ".join(rng.choices(words, k=rng.randint(20, 300))) + "." for _ in range(count)]


def imdb_test_reviews(dataset: Path | None, count: int, seed: int = 0) -> tuple[list[str], str]:
    """(``count`` shuffled reviews, where they came from): IMDb test from a local copy, else synthetic."""
    root = dataset or LOCAL_IMDB
    files = sorted((root / "plain_text").glob("test-*.parquet")) or sorted(root.glob("test-*.parquet"))
    if not files:
        return synthetic_reviews(count, seed), "synthetic"
    import pyarrow.parquet as pq

    texts = [text for path in files for text in pq.read_table(path, columns=["text"]).column("text").to_pylist()]
    random.Random(seed).shuffle(texts)  # the rows are sorted by label
    return texts[:count], str(root)


class InputStream:
    """Thread-safe source of (input name, text): fresh reviews, with a hostile input every ``HOSTILE_EVERY``."""

    def __init__(self, reviews: list[str], hostile: dict[str, str]) -> None:
        self._reviews, self._hostile = reviews, list(hostile.items())
        self._count = 0
        self._lock = threading.Lock()

    def next(self) -> tuple[str, str]:
        with self._lock:
            count = self._count
            self._count += 1
        if count % HOSTILE_EVERY == HOSTILE_EVERY - 1:
            return self._hostile[(count // HOSTILE_EVERY) % len(self._hostile)]
        return "IMDb review", self._reviews[count % len(self._reviews)]  # reused only after all were sent


# --- judging answers --------------------------------------------------------------------------------
@dataclass
class Outcome:
    endpoint: str
    input_name: str
    seconds: float
    status: str  # "ok", "expected error" (a refused empty review) or "error"
    detail: str = ""


def judge(input_name: str, result: object = None, error: BaseException | None = None) -> tuple[str, str]:
    """(status, detail) of one answer: what each input must get: an answer, or a clear refusal for an empty one."""
    if is_expected_refusal(input_name):
        if error is not None and EMPTY_MESSAGE in str(error):
            return "expected error", ""
        return "error", f"an empty review got {'a prediction' if error is None else describe(error)}"
    if error is not None:
        return "error", describe(error)
    if not isinstance(result, dict) or not isinstance(result.get("probabilities"), dict):
        return "error", f"malformed answer: {str(result)[:200]}"
    total = sum(result["probabilities"].values())
    if not math.isclose(total, 1.0, abs_tol=1e-4) or result.get("label") not in result["probabilities"]:
        return "error", f"probabilities sum to {total} or label {result.get('label')!r} unknown"
    return "ok", ""


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer within the request timeout (hung)"
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200] if text else ''}"


def summarize(outcomes: list[Outcome], seconds: float) -> dict:
    """Counts, throughput and latency per endpoint of one phase."""
    answered = [o for o in outcomes if o.status != "error"]
    errors = [o for o in outcomes if o.status == "error"]
    distinct_errors: dict[str, int] = {}
    for o in errors:
        key = f"{o.endpoint} {o.input_name}: {o.detail}"
        distinct_errors[key] = distinct_errors.get(key, 0) + 1
    return {
        "seconds": round(seconds, 2),
        "requests": len(outcomes),
        "served": len(answered),
        "expected_errors": sum(o.status == "expected error" for o in outcomes),
        "errors": len(errors),
        "error_kinds": distinct_errors,
        "requests_per_second": round(len(answered) / seconds, 2) if seconds > 0 else None,
        "over_one_second": sum(o.seconds > 1.0 for o in answered),
        "latency": {
            endpoint: latency_summary([o.seconds for o in answered if o.endpoint == endpoint])
            for endpoint in ENDPOINTS if any(o.endpoint == endpoint for o in answered)
        },
        "latency_by_input": {
            name: latency_summary([o.seconds for o in answered if o.input_name == name])
            for name in sorted({o.input_name for o in answered})
        },
    }


def log_summary(log: str) -> dict:
    """Tracebacks in the server's output: each is an exception the app did not turn into a message."""
    lines = log.splitlines()
    tracebacks = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    first = lines[tracebacks[0]:tracebacks[0] + 40] if tracebacks else []
    return {"lines": len(lines), "tracebacks": len(tracebacks), "first_traceback": "\n".join(first)}


def growth_percent(before_kb: int, after_kb: int) -> float:
    return round(100.0 * (after_kb - before_kb) / before_kb, 2)


# --- the server ---------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    """A memory field of a process's /proc status, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field}")


class AppDidNotStart(RuntimeError):
    pass


def wait_until_ready(url: str, process: subprocess.Popen, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AppDidNotStart(f"app.py exited with status {process.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(urllib.error.URLError, OSError):
            with urllib.request.urlopen(f"{url}/config", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.25)
    raise AppDidNotStart(f"app.py did not answer on {url} within {timeout:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 15) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


@contextlib.contextmanager
def running_app(model: str, revision: str | None, log_path: Path, startup_timeout: float,
                env_extra: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """(URL, process) of app.py serving ``model`` on 127.0.0.1; stopped on the way out, whatever happens."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1", **(env_extra or {})}
    command = [sys.executable, str(APP), "--model", model] + (["--revision", revision] if revision else [])
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_ready(url, process, log_path, startup_timeout)
        yield url, process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# --- the users ------------------------------------------------------------------------------------------
def make_client(url: str, max_workers: int = 4):
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=False, max_workers=max_workers)


def close_clients(clients: list) -> None:
    for client in clients:
        with contextlib.suppress(Exception):  # closing is best effort: the server goes away next
            client.close()


def call(client, endpoint: str, input_name: str, text: str, timeout: float) -> Outcome:
    started = time.perf_counter()
    job = None
    try:
        job = client.submit(text, api_name=endpoint)
        result = job.result(timeout=timeout)
        status, detail = judge(input_name, result=result)
    except Exception as error:  # every failure is counted, none stops the user
        if job is not None and isinstance(error, TimeoutError):
            job.cancel()
        status, detail = judge(input_name, error=error)
    return Outcome(endpoint, input_name, time.perf_counter() - started, status, detail)


def run_users(clients: list, inputs: InputStream, seconds: float, timeout: float) -> tuple[list[Outcome], float]:
    """Every client sends one request at a time, alternating endpoints, until ``seconds`` have passed."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def user(index: int, client) -> None:
        sent = index  # users start on different endpoints
        while time.monotonic() < deadline:
            name, text = inputs.next()
            outcome = call(client, ENDPOINTS[sent % len(ENDPOINTS)], name, text, timeout)
            sent += 1
            with lock:
                outcomes.append(outcome)

    started = time.monotonic()
    if run_threads([functools.partial(user, i, c) for i, c in enumerate(clients)], seconds + timeout + 30):
        outcomes.append(Outcome("-", "-", timeout, "error", "a user thread never returned (hung)"))
    return outcomes, time.monotonic() - started


def prime(clients: list, hostile: dict[str, str], timeout: float) -> tuple[list[Outcome], float]:
    """Every user sends every hostile input once: the server's buffers for each connection reach the size
    of the largest request before the RSS baseline is read, as on a server that has been up for a while."""
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def user(client) -> None:
        for sent, (name, text) in enumerate(hostile.items()):
            outcome = call(client, ENDPOINTS[sent % len(ENDPOINTS)], name, text, timeout)
            with lock:
                outcomes.append(outcome)

    started = time.monotonic()
    run_threads([functools.partial(user, client) for client in clients], len(hostile) * timeout + 30)
    return outcomes, time.monotonic() - started


def run_threads(targets, join_timeout: float) -> int:
    """Run each callable in its own daemon thread, all at once; wait at most ``join_timeout`` for each.

    Returns how many are still running (hung)."""
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    return sum(thread.is_alive() for thread in threads)


class RssSampler:
    """The server's RSS every ``interval`` seconds while the load runs, for its peak."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self._pid, self._interval = pid, interval
        self.samples_kb: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples_kb.append(rss_kb(self._pid))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def queue_burst(url: str, size: int, timeout: float) -> dict:
    """``size`` requests at once, each a new slow text; the excess must be refused at once, nothing may hang."""
    client = make_client(url, max_workers=size)
    rng = random.Random(1)
    # one 100,000-character chunk: 1,000 pieces of 100 characters, each new to the tokenizer and, with
    # an accented letter, each a job for spaCy (plain ASCII words skip it): about 0.1 s of work each
    texts = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyzé", k=100_000)) for _ in range(size)]
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    start_together = threading.Barrier(size)

    def request(text: str) -> None:
        start_together.wait()
        outcome = call(client, "/predict", "burst", text, timeout)
        with lock:
            outcomes.append(outcome)

    started = time.perf_counter()
    run_threads([functools.partial(request, text) for text in texts], timeout + 30)
    close_clients([client])
    refusals = [o.seconds for o in outcomes if QUEUE_FULL_MESSAGE in o.detail.lower()]
    other = [o.detail for o in outcomes if o.status == "error" and QUEUE_FULL_MESSAGE not in o.detail.lower()]
    other += ["a request thread never returned (hung)"] * (size - len(outcomes))
    return {
        "requests": size,
        "answered": sum(o.status == "ok" for o in outcomes),
        "refused_queue_full": len(refusals),
        "other_errors": other,
        "queue_full_reached": bool(refusals),
        "slowest_refusal_seconds": round(max(refusals), 3) if refusals else None,
        "slowest_answer_seconds": round(max((o.seconds for o in outcomes if o.status == "ok"), default=0), 3),
        "seconds": round(time.perf_counter() - started, 2),
    }


# --- main -------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(BUNDLED_MODEL),
                   help="model folder, or Hub repo id with --revision (default: the bundled model)")
    p.add_argument("--revision", default=None, help="Hub commit to pin, passed to app.py")
    p.add_argument("--users", type=int, default=None, help=f"concurrent users (default {DEFAULTS['users']}; "
                   f"{QUICK['users']} with --quick)")
    p.add_argument("--duration", type=float, default=None, help=f"seconds of measured load (default "
                   f"{DEFAULTS['duration']:.0f}; {QUICK['duration']:.0f} with --quick)")
    p.add_argument("--warmup", type=float, default=None, help=f"seconds of unmeasured load first (default "
                   f"{DEFAULTS['warmup']:.0f}; {QUICK['warmup']:.0f} with --quick)")
    p.add_argument("--burst", type=int, default=None, help=f"simultaneous requests of the full-queue check, "
                   f"more than the app's 22 (default {DEFAULTS['burst']}; {QUICK['burst']} with --quick; 0 skips it)")
    p.add_argument("--request-timeout", type=float, default=30.0,
                   help="seconds after which an unanswered request counts as hung (default 30)")
    p.add_argument("--max-rss-growth", type=float, default=10.0,
                   help="percent of RSS growth over the measured run that fails the test (default 10)")
    p.add_argument("--dataset", type=Path, default=None,
                   help=f"local IMDb copy for the reviews (default {LOCAL_IMDB}; synthetic text if absent)")
    p.add_argument("--startup-timeout", type=float, default=180.0, help="seconds to wait for app.py (default 180)")
    p.add_argument("--quick", action="store_true", help="a few seconds with few users: checks the script works")
    p.add_argument("--output", type=Path, default=None,
                   help="JSON results (default benchmarks/results/load.json, or results/quick/ with --quick)")
    args = p.parse_args(argv)
    for name, value in (QUICK if args.quick else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.users < 1 or args.duration <= 0 or args.warmup < 0 or args.burst < 0:
        p.error("--users and --duration must be positive, --warmup and --burst not negative")
    args.output = args.output or (QUICK_RESULTS_DIR if args.quick else RESULTS_DIR) / "load.json"
    return args


def failures(record: dict, max_rss_growth: float) -> list[str]:
    """Why the run fails its load requirements; empty when it passes."""
    problems = []
    load = record["load"]
    if load["errors"]:
        problems.append(f"{load['errors']} requests failed unexpectedly: {load['error_kinds']}")
    if record["warmup"]["errors"]:
        problems.append(f"{record['warmup']['errors']} requests failed during warm-up: {record['warmup']['error_kinds']}")
    if record["server_rss"]["growth_percent"] > max_rss_growth:
        problems.append(f"the server's RSS grew {record['server_rss']['growth_percent']}% (limit {max_rss_growth}%)")
    burst = record.get("queue_burst")
    if record["server_log"]["tracebacks"]:
        problems.append(f"the server logged {record['server_log']['tracebacks']} tracebacks; the first:\n"
                        f"{record['server_log']['first_traceback']}")
    if not record["server_alive_until_the_end"]:
        problems.append("the server died during the run")
    if burst and burst["other_errors"]:
        problems.append(f"the full-queue burst got {len(burst['other_errors'])} answers that were neither a "
                        f"prediction nor 'Queue is full': {sorted(set(burst['other_errors']))}")
    return problems


def report(record: dict) -> str:
    load, rss = record["load"], record["server_rss"]
    rows = [[endpoint, s["calls"], s["median_ms"], s["p99_ms"], s["max_ms"]] for endpoint, s in load["latency"].items()]
    lines = [
        f"{record['config']['users']} users for {load['seconds']} s against {record['config']['model']}",
        f"served {load['served']} requests ({load['requests_per_second']}/s), of which {load['expected_errors']} "
        f"empty reviews refused as expected; unexpected errors: {load['errors']}; "
        f"over one second: {load['over_one_second']}",
        "",
        markdown_table(["endpoint", "requests", "median ms", "p99 ms", "max ms"], rows),
        "",
        f"server RSS: {rss['before_mb']} MB after warm-up, {rss['after_mb']} MB after the load "
        f"({rss['growth_percent']:+}%), peak {rss['peak_during_load_mb']} MB during it",
    ]
    burst = record.get("queue_burst")
    if burst:
        lines.append(
            f"full-queue burst of {burst['requests']}: {burst['answered']} answered, {burst['refused_queue_full']} "
            f"refused with 'Queue is full' (slowest refusal {burst['slowest_refusal_seconds']} s), "
            f"{len(burst['other_errors'])} other errors, {burst['seconds']} s in all"
            + ("" if burst["queue_full_reached"] else " (the queue never filled: the server kept up)")
        )
    return "\n".join(lines)


def mb(kb: int) -> float:
    return round(kb * 1024 / 1e6, 1)


def run(args: argparse.Namespace, argv: list[str]) -> dict:
    if args.model == str(BUNDLED_MODEL) and not BUNDLED_MODEL.is_dir():
        raise AppDidNotStart(f"there is no bundled model at {BUNDLED_MODEL}: pass --model (e.g. a folder from "
                             "`python train.py --dry-run --output-dir /tmp/load-model`)")
    hostile = hostile_inputs()
    # enough reviews that none repeats: about 100 requests a second is the most a 2-core CPU serves
    count = int(200 * (args.duration + args.warmup)) + 100
    # a quick run reads the same synthetic text on every machine, whatever copy of IMDb lies around
    reviews, reviews_source = ((synthetic_reviews(count), "synthetic") if args.quick and args.dataset is None
                               else imdb_test_reviews(args.dataset, count))
    inputs = InputStream(reviews, hostile)
    with tempfile.TemporaryDirectory(prefix="load-test-") as scratch:
        log_path = Path(scratch) / "app.log"
        started = time.perf_counter()
        # every simulated visitor (and the burst) comes from this one address: the app's limit of calls
        # per client would refuse most of them, so it is raised to their number here
        visitors = {"TEXTCNN_MAX_CALLS_PER_CLIENT": str(max(args.users, args.burst))}
        with running_app(args.model, args.revision, log_path, args.startup_timeout, visitors) as (url, server):
            pid = server.pid
            startup_seconds = time.perf_counter() - started
            print(f"app.py (PID {pid}) ready on {url} after {startup_seconds:.1f} s; RSS {mb(rss_kb(pid))} MB")
            clients = [make_client(url) for _ in range(args.users)]
            priming, priming_seconds = prime(clients, hostile, args.request_timeout)
            warmup, warmup_seconds = run_users(clients, inputs, args.warmup, args.request_timeout)
            warmup, warmup_seconds = priming + warmup, priming_seconds + warmup_seconds
            time.sleep(0.5)  # let the last answers' buffers go before reading the idle RSS
            before = rss_kb(pid)
            with RssSampler(pid) as sampler:
                load, load_seconds = run_users(clients, inputs, args.duration, args.request_timeout)
            time.sleep(0.5)
            after = rss_kb(pid)
            burst = queue_burst(url, args.burst, args.request_timeout) if args.burst else None
            server_alive = server.poll() is None
            close_clients(clients)
        server_log = log_summary(log_path.read_text(errors="replace"))
    return {
        "benchmark": "load",
        "command": shlex.join(["python", "scripts/load_test.py", *argv]),
        "quick": args.quick,
        "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpu_cores": len(os.sched_getaffinity(0)), "load_average_1min": round(os.getloadavg()[0], 2),
                    "python": sys.version.split()[0], "git_commit": git_commit()},
        "config": {"model": args.model, "revision": args.revision, "users": args.users, "duration_s": args.duration,
                   "warmup_s": args.warmup, "request_timeout_s": args.request_timeout, "reviews": reviews_source,
                   "hostile_every": HOSTILE_EVERY, "hostile_inputs": list(hostile), "endpoints": list(ENDPOINTS)},
        "startup_seconds": round(startup_seconds, 2),
        "warmup": summarize(warmup, warmup_seconds),
        "load": summarize(load, load_seconds),
        "server_rss": {"before_mb": mb(before), "after_mb": mb(after), "growth_percent": growth_percent(before, after),
                       "peak_during_load_mb": mb(max(sampler.samples_kb, default=after)),
                       "during_load_mb": [mb(kb) for kb in sampler.samples_kb[::max(1, len(sampler.samples_kb) // 50)]]},
        "queue_burst": burst,
        "server_alive_until_the_end": server_alive,
        "server_log": server_log,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # a kill of this script still runs the finally blocks that stop the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        record = run(args, sys.argv[1:] if argv is None else argv)
    except AppDidNotStart as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    problems = failures(record, args.max_rss_growth)
    record["passed"], record["failures"] = not problems, problems
    print(report(record))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from textcnn.atomic import atomic_write_text

    atomic_write_text(args.output, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"\nresults written to {args.output}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
