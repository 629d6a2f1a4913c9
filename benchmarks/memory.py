"""Resident memory (RSS) of the app's stack with the model loaded, measured in a fresh process.

    python benchmarks/memory.py            # the bundled model; 1,000 test reviews for the batch stage
    python benchmarks/memory.py --quick    # 50 reviews (what CI runs)

A fresh Python process imports what the demo app imports (torch, textcnn, gradio), loads the
model through ``SentimentPipeline``, explains a few reviews and predicts a batch, reading its
RSS from /proc/self/status after each stage. The peak (VmHWM) up to the explanations, what the
app does, is checked against the target; the batch, which the app never runs, is reported beside
it. It measures the app's stack rather than app.py itself, so the app's own objects (the Gradio
Blocks, its server threads) are not included.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common  # noqa: E402

EXPLAINED = 10  # reviews explained one by one, as the app does


def parse_args(argv: list[str] | None):
    p = common.base_parser(__doc__)
    p.add_argument("--batch-reviews", type=int, default=None,
                   help="test reviews predicted in one batch (default 1000; 50 with --quick)")
    p.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)  # the measured process
    args = p.parse_args(argv)
    args.batch_reviews = args.batch_reviews or (50 if args.quick else 1000)
    return args


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (VmRSS, VmHWM; reported in kB) in MB (10^6 bytes)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(model: str, texts_file: Path) -> None:
    """Runs in the fresh process: RSS after each stage of what the app does, as one JSON line."""
    texts = json.loads(texts_file.read_text())
    stages = [("python started, reviews read", proc_status_mb("VmRSS"))]
    import torch  # noqa: F401

    from textcnn.pipeline import SentimentPipeline

    stages.append(("torch + textcnn imported", proc_status_mb("VmRSS")))
    import gradio  # noqa: F401

    stages.append(("gradio imported", proc_status_mb("VmRSS")))
    pipeline = SentimentPipeline.from_pretrained(model)
    stages.append(("model loaded", proc_status_mb("VmRSS")))
    for text in texts[:EXPLAINED]:
        pipeline.explain(text)
    stages.append((f"{min(EXPLAINED, len(texts))} reviews explained", proc_status_mb("VmRSS")))
    app_peak = proc_status_mb("VmHWM")
    pipeline.predict(texts)
    stages.append((f"{len(texts):,} reviews predicted in one call", proc_status_mb("VmRSS")))
    print(json.dumps({"stages": stages, "app_peak_mb": app_peak, "peak_mb": proc_status_mb("VmHWM")}))


def measure(model: str, texts: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts))
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--model", model, "--child", str(texts_file)],
            cwd=common.REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True,
        )
    if done.returncode != 0:
        sys.exit(f"error: the measured process failed (exit {done.returncode})")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {"stages": [{"stage": s, "rss_mb": round(mb, 1)} for s, mb in report["stages"]],
            "app_peak_rss_mb": round(report["app_peak_mb"], 1), "peak_rss_mb": round(report["peak_mb"], 1)}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.child:
        child(args.model, args.child)
        return {}
    common.load_pipeline(args.model)  # fail here, with the loader's message, if the model is missing
    info = common.machine()
    with common.dataset_source(args.dataset, args.quick) as source:
        limits = {"test": min(args.batch_reviews, common.QUICK_SIZES["test"]) if args.quick else args.batch_reviews}
        texts, _ = common.load_texts(source, ("test",), limits, args.seed)["test"]
    report = measure(args.model, texts)

    target = common.TARGETS["app_rss_mb"]
    met = report["app_peak_rss_mb"] < target
    print(f"## Resident memory of the app's stack{' (QUICK: not a measurement)' if args.quick else ''}\n")
    print(f"a fresh process; MB = 10^6 bytes; {common.describe_machine(info)}\n")
    rows, previous = [], None
    for stage in report["stages"]:
        rows.append([stage["stage"], stage["rss_mb"], None if previous is None else f"{stage['rss_mb'] - previous:+.1f}"])
        previous = stage["rss_mb"]
    rows.append(["peak (VmHWM) up to the explanations: the app's work", report["app_peak_rss_mb"], None])
    rows.append(["peak (VmHWM) with the batch", report["peak_rss_mb"], None])
    print(common.markdown_table(["stage", "RSS MB", "change MB"], rows))
    print(f"\nTarget: peak RSS up to the explanations < {target:g} MB: {'met' if met else 'NOT met'}. "
          "Measured via SentimentPipeline and "
          "`import gradio`, not app.py itself (the Gradio Blocks and server are not included).")
    results = {
        "config": {"model": args.model, "dataset": source, "batch_reviews": len(texts), "explained": EXPLAINED},
        "results": report,
        "target_met": {"app_rss_mb": met},
    }
    common.write_results("memory", args, argv, results, info)
    return results


if __name__ == "__main__":
    main()
