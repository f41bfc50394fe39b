"""Intent quality of a Rasa NLU pipeline on held-out utterances, the fallback threshold sweep and parse latency.

Runs in the Rasa environment:

    .venv/rasa/bin/python bench/nlu_eval.py [--model models/....tar.gz]          # the trained model
    .venv/rasa/bin/python bench/nlu_eval.py --config bench/config_x.yml           # train a candidate first
    .venv/rasa/bin/python bench/nlu_eval.py --config config.yml \\
        --train-data nlu/eval/second_style/train.yml --heldout nlu/eval/second_style/test.yml

With --config the pipeline is trained (NLU only, Rasa's training cache off) on --train-data (default:
nlu/data and the generated build/nlu) into a temporary folder and the training time is reported.
Prints per-intent precision/recall/F1, macro F1, and for each candidate FallbackClassifier threshold
the accuracy over in-domain plus "cannot understand" messages, so the threshold is chosen from data;
then parse latency (in-process, no HTTP) and, when the pipeline has the E5Featurizer, its cost per message.
--json FILE also writes the figures as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
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
IGNORED = {"emergency"}       # decided by core/safety.py before Rasa; not a classifier intent
DEFAULT_TRAIN_DATA = ["nlu/data", "build/nlu"]
THRESHOLDS = [x / 100 for x in range(5, 75, 5)]


def load_heldout(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [(str(text), intent) for intent, texts in data.items() if intent not in IGNORED for text in texts]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def train_candidate(config: Path, train_data: list[str], out: Path) -> tuple[Path, float]:
    """Train an NLU-only model for `config` on `train_data` (files or folders) in `out`."""
    if not config.is_file():  # rasa would silently fall back to its default pipeline
        raise SystemExit(f"no such config: {config}")
    data_dir = out / "data"
    data_dir.mkdir(parents=True)
    count = 0
    for item in train_data:
        path = ROOT / item if not Path(item).is_absolute() else Path(item)
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml"))
        for file in files:
            count += 1
            shutil.copyfile(file, data_dir / f"{count:03d}_{file.name}")
    rasa = Path(sys.executable).with_name("rasa")
    cmd = [str(rasa), "train", "nlu", "--config", str(config), "--nlu", str(data_dir), "--out", str(out),
           "--fixed-model-name", "candidate"]
    env = {**os.environ, "RASA_MAX_CACHE_SIZE": "0", "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    model = out / "candidate.tar.gz"
    if result.returncode != 0 or not model.exists():
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"training {config} failed")
    return model, elapsed


async def parse_all(model: str, examples: list[tuple[str, str]]) -> list[tuple[str, str, float, float, str]]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)  # as `rasa run` does; unconfigured structlog prints every debug event
    agent = Agent.load(model)
    for text, _ in examples[:5]:  # warm-up: first calls pay for lazy initialisation
        await agent.parse_message(text)
    out = []
    for text, gold in examples:
        start = time.perf_counter()
        result = await agent.parse_message(text)
        elapsed = time.perf_counter() - start
        ranking = [r for r in result.get("intent_ranking", []) if r["name"] != "nlu_fallback"]
        top = ranking[0] if ranking else {"name": "nlu_fallback", "confidence": 0.0}
        predicted = "fallback" if top["name"] in NOT_UNDERSTOOD else top["name"]
        out.append((gold, predicted, float(top["confidence"]), elapsed, text))
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


def featurizer_cost(model: str, examples: list[tuple[str, str]]) -> dict | None:
    """Time the E5 encoder alone, one message at a time, if the model's pipeline uses it."""
    import tarfile

    with tarfile.open(model) as tar:
        member = next((m for m in tar.getmembers() if m.name.removeprefix("./") == "metadata.json"), None)
        metadata = json.load(tar.extractfile(member)) if member else {}
    nodes = (metadata.get("predict_schema") or {}).get("nodes", {})
    config = next((node.get("config", {}) for node in nodes.values()
                   if node.get("uses", "").endswith("E5Featurizer")), None)
    if config is None:
        return None
    from nlu.components.e5_onnx import E5Encoder, resolve_model_dir

    encoder = E5Encoder(resolve_model_dir(config.get("model_path", "build/models/e5-onnx")),
                        threads=config.get("threads", 1), max_length=config.get("max_length"),
                        prefix=config.get("prefix"))
    texts = [text for text, _ in examples]
    encoder.encode(texts[:5], batch_size=1)
    times = []
    for text in texts:
        start = time.perf_counter()
        encoder.encode([text], batch_size=1)
        times.append(time.perf_counter() - start)
    start = time.perf_counter()
    encoder.encode(texts, batch_size=32)
    batched = (time.perf_counter() - start) / len(texts)
    return {"p50_ms": percentile(times, 0.5) * 1000, "p95_ms": percentile(times, 0.95) * 1000,
            "batched_ms_per_message": batched * 1000, "int8": encoder.info.get("int8")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a trained model (default: the one scripts/train.py names)")
    parser.add_argument("--config", default=None, help="train this pipeline first (NLU only) and evaluate it")
    parser.add_argument("--train-data", nargs="+", default=DEFAULT_TRAIN_DATA, help="training files/folders for --config")
    parser.add_argument("--heldout", default=str(ROOT / "nlu" / "eval" / "heldout.yml"))
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    parser.add_argument("--errors", action="store_true", help="list the misclassified in-domain utterances")
    args = parser.parse_args()
    examples = load_heldout(Path(args.heldout))
    figures: dict = {"heldout": str(args.heldout), "utterances": len(examples)}
    with tempfile.TemporaryDirectory(prefix="nlu_eval.") as tmp:
        if args.config:
            model, train_seconds = train_candidate(Path(args.config).resolve(), args.train_data, Path(tmp))
            figures.update(config=args.config, train_data=args.train_data, train_seconds=round(train_seconds, 1))
            print(f"config: {args.config}; trained on {' '.join(args.train_data)} in {train_seconds:.1f} s "
                  f"(rasa train nlu, cache off)")
        else:
            model = args.model or subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "--print-path"],
                                                 capture_output=True, text=True, check=True).stdout.strip()
            figures["model"] = Path(model).name
        results = asyncio.run(parse_all(str(model), examples))
        cost = featurizer_cost(str(model), examples)
    print(f"model: {Path(model).name}; held-out utterances: {len(examples)} "
          f"({Counter(g for g, *_ in results)['fallback']} should fall back) from {args.heldout}")

    in_domain = [(g, p) for g, p, *_ in results if g != "fallback"]
    table, macro = f1_table(in_domain)
    print("\nintent F1 without fallback (in-domain only)")
    for label, (p, r, f, n) in table.items():
        print(f"  {label:20s} P={p:.2f} R={r:.2f} F1={f:.2f} n={n}")
    print(f"  macro F1 = {macro:.3f}  accuracy = {sum(1 for g, p in in_domain if g == p) / len(in_domain):.3f}")
    figures.update(macro_f1=round(macro, 4), per_intent={k: round(v[2], 3) for k, v in table.items()})
    if args.errors:
        print("\nmisclassified (gold -> predicted, confidence)")
        for gold, predicted, confidence, _, text in sorted(results):
            if gold != predicted and gold != "fallback":
                print(f"  {gold:18s} -> {predicted:18s} {confidence:.2f}  {text}")

    print("\nfallback threshold sweep (a message below it becomes nlu_fallback)")
    best = None
    sweep = []
    n_fallback = sum(1 for g, *_ in results if g == "fallback")
    for threshold in THRESHOLDS:
        pairs = [(g, p if c >= threshold else "fallback") for g, p, c, *_ in results]
        accuracy = sum(1 for g, p in pairs if g == p) / len(pairs)
        _, macro_t = f1_table(pairs)
        caught = sum(1 for g, p in pairs if g == "fallback" and p == "fallback")
        lost = sum(1 for g, p in pairs if g != "fallback" and p == "fallback")
        print(f"  {threshold:.2f}: accuracy={accuracy:.3f} macroF1={macro_t:.3f} "
              f"fallbacks caught={caught}/{n_fallback} in-domain lost={lost}")
        sweep.append({"threshold": threshold, "accuracy": round(accuracy, 4), "macro_f1": round(macro_t, 4),
                      "caught": caught, "lost": lost})
        if best is None or macro_t > best[1]:
            best = (threshold, macro_t)
    print("\nconfidence calibration (top intent; fallback utterances count as wrong unless `unclear` wins)")
    bins = [0.0, 0.3, 0.5, 0.7, 0.85, 1.0001]
    calibration, ece = [], 0.0
    for low, high in zip(bins, bins[1:]):
        inside = [(g == p, c) for g, p, c, *_ in results if low <= c < high]
        if not inside:
            continue
        accuracy = sum(ok for ok, _ in inside) / len(inside)
        mean_conf = sum(c for _, c in inside) / len(inside)
        ece += len(inside) / len(results) * abs(accuracy - mean_conf)
        calibration.append({"bin": [low, min(high, 1.0)], "n": len(inside), "accuracy": round(accuracy, 3),
                            "mean_confidence": round(mean_conf, 3)})
        print(f"  [{low:.2f}, {min(high, 1.0):.2f}): n={len(inside):3d} accuracy={accuracy:.2f} mean confidence={mean_conf:.2f}")
    print(f"  expected calibration error = {ece:.3f}")
    figures.update(calibration=calibration, ece=round(ece, 4))

    latencies = [t for _, _, _, t, _ in results]
    print(f"\nbest threshold by macro F1 (fallback counted as a class): {best[0]:.2f} (macro F1 {best[1]:.3f})")
    print(f"parse latency p50={percentile(latencies, 0.5) * 1000:.1f} ms "
          f"p95={percentile(latencies, 0.95) * 1000:.1f} ms (in-process, no HTTP)")
    figures.update(sweep=sweep, best_threshold=best[0], parse_p50_ms=round(percentile(latencies, 0.5) * 1000, 2),
                   parse_p95_ms=round(percentile(latencies, 0.95) * 1000, 2))
    if cost:
        print(f"E5 featurizer alone ({'int8' if cost['int8'] else 'fp32'}): p50={cost['p50_ms']:.1f} ms "
              f"p95={cost['p95_ms']:.1f} ms per message; batched {cost['batched_ms_per_message']:.1f} ms/message")
        figures["e5_cost"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in cost.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
