"""Intent quality of a trained Rasa model on held-out utterances, and the fallback threshold sweep.

Runs in the Rasa environment:  .venv/rasa/bin/python bench/nlu_eval.py [--model models/....tar.gz]
Prints per-intent precision/recall/F1, macro F1, and for each candidate FallbackClassifier threshold
the accuracy over in-domain plus "cannot understand" messages, so the threshold is chosen from data.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.disable(logging.WARNING)
NOT_UNDERSTOOD = {"unclear"}  # intents the dialogue treats like a fallback (actions/basics.py)


def load_heldout(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(str(text), intent) for intent, texts in data.items() for text in texts]


async def parse_all(model: str, examples: list[tuple[str, str]]) -> list[tuple[str, str, float, float]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    out = []
    for text, gold in examples:
        start = time.perf_counter()
        result = await agent.parse_message(text)
        elapsed = time.perf_counter() - start
        ranking = [r for r in result.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else {"name": "nlu_fallback", "confidence": 0.0}
        predicted = "fallback" if top["name"] in NOT_UNDERSTOOD else top["name"]
        out.append((gold, predicted, float(top["confidence"]), elapsed))
    return out


def f1_table(pairs: list[tuple[str, str]]) -> tuple[dict[str, tuple[float, float, float, int]], float]:
    labels = sorted({g for g, _ in pairs})
    table = {}
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        table[label] = (precision, recall, f1, tp + fn)
    return table, sum(v[2] for v in table.values()) / len(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default=None)
    parser.add_argument("--heldout", default=str(ROOT / "nlu" / "eval" / "heldout.yml"))
    args = parser.parse_args()
    model = args.model or subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--print-path"],
                                         capture_output=True, text=True, check=True).stdout.strip()
    examples = load_heldout(Path(args.heldout))
    results = asyncio.run(parse_all(model, examples))
    print(f"model: {Path(model).name}; held-out utterances: {len(examples)} "
          f"({Counter(g for g, *_ in results)['fallback']} should fall back)")

    in_domain = [(g, p) for g, p, _, _ in results if g != "fallback"]
    table, macro = f1_table(in_domain)
    print("\nintent F1 without fallback (in-domain only)")
    for label, (p, r, f, n) in table.items():
        print(f"  {label:18s} P={p:.2f} R={r:.2f} F1={f:.2f} n={n}")
    print(f"  macro F1 = {macro:.3f}")

    print("\nfallback threshold sweep (a message below it becomes nlu_fallback)")
    best = None
    for threshold in [x / 100 for x in range(10, 75, 5)]:
        pairs = [(g, p if c >= threshold else "fallback") for g, p, c, _ in results]
        accuracy = sum(1 for g, p in pairs if g == p) / len(pairs)
        _, macro_t = f1_table(pairs)
        caught = sum(1 for g, p in pairs if g == "fallback" and p == "fallback")
        lost = sum(1 for g, p in pairs if g != "fallback" and p == "fallback")
        print(f"  {threshold:.2f}: accuracy={accuracy:.3f} macroF1={macro_t:.3f} "
              f"fallbacks caught={caught}/{sum(1 for g, _ in pairs if g == 'fallback')} in-domain lost={lost}")
        if best is None or macro_t > best[1]:
            best = (threshold, macro_t)
    latencies = sorted(t for *_, t in results)
    print(f"\nbest threshold by macro F1: {best[0]:.2f} (macro F1 {best[1]:.3f})")
    print(f"parse latency p50={latencies[len(latencies) // 2] * 1000:.1f} ms "
          f"p95={latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms (in-process, no HTTP)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
