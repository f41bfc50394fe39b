"""Knowledge-retrieval benchmark: dense alone, lexical alone and fused, on the held-out questions.

    python bench/retrieval.py [--folds 5] [--write-calibration] [--json out.json]

Reads every knowledge/eval/questions_*.yaml ({q, guide (name, or null = out of scope), variant}),
builds/refreshes the index (incremental), scores every question once with both retrievers and
reports hit@1, hit@3, MRR, answerable/unanswerable accuracy, the clear/close signal and query
latency (p50/p95 of the real search call, after warm-up).

Tuning is cross-validated: questions are split into k folds by a hash of their text and every
question is judged with fusion constants and thresholds fitted on the *other* folds, so the
figures printed are held-out figures. --write-calibration then fits on all questions and
saves knowledge/calibration.json, which the Retriever loads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.settings import get_settings  # noqa: E402
from knowledge.calibration import (  # noqa: E402
    Signals, evaluate, fit, fit_dense_only, pick_threshold, rrf,
)
from knowledge.fusion import CALIBRATION_FILE, confidence, fuse, load_scoring  # noqa: E402
from knowledge.index import build_index  # noqa: E402
from knowledge.retrieval import Retriever  # noqa: E402
from nlu.textnorm import normalize  # noqa: E402

EVAL_DIR = ROOT / "knowledge" / "eval"
MODES = ("dense", "lexical", "fused")


def load_questions(folder: Path) -> list[dict]:
    questions = []
    for path in sorted(folder.glob("questions_*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            guide = row.get("guide") or None
            questions.append({"q": str(row["q"]), "guide": guide, "file": path.name,
                              "variant": row.get("variant") or ("out_of_scope" if guide is None else "plain")})
    return questions


def fold_of(text: str, folds: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % folds


def ms(samples: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, p)) if samples else float("nan")


def measure(retriever: Retriever, questions: list[dict], rounds: int = 1):
    """Score matrices of both retrievers and per-query latencies (each retriever, and search()).

    With rounds > 1 every question is timed that many times (latency pooled over the rounds).
    """
    for row in questions[:10]:  # warm-up: lazy initialisation, caches, allocator
        retriever.search(row["q"])
    dense_rows, core_rows, detail_rows = [], [], []
    lat = {m: [] for m in MODES}
    for n, row in enumerate(questions * rounds):
        text = normalize(row["q"])
        t0 = time.perf_counter()
        dense = retriever.dense_scores(text)
        t1 = time.perf_counter()
        core, detail = retriever.lexical_scores(text)
        t2 = time.perf_counter()
        retriever.search(row["q"])
        t3 = time.perf_counter()
        lat["dense"].append(t1 - t0)
        lat["lexical"].append(t2 - t1)
        lat["fused"].append(t3 - t2)
        if n >= len(questions):
            continue
        if dense is not None:
            dense_rows.append(dense)
        core_rows.append(core)
        detail_rows.append(detail)
    dense = np.vstack(dense_rows) if dense_rows else None
    return Signals(dense, np.vstack(core_rows), np.vstack(detail_rows)), lat


def cross_validate(signals: Signals, gold: np.ndarray, folds_of: np.ndarray, folds: int):
    """Held-out (scores, thresholds, confidence) per mode: each fold judged with constants fitted on the others."""
    n = len(gold)
    held = {m: [np.zeros_like(signals.core), np.zeros(n), np.zeros(n)] for m in MODES}
    margins = np.zeros(n)
    fits = []
    for f in range(folds):
        train, test = folds_of != f, folds_of == f
        tr, te = signals.rows(train), signals.rows(test)
        if signals.dense is not None:
            held["dense"][0][test] = te.dense
            held["dense"][1][test] = fit_dense_only(tr.dense, gold[train])
            held["dense"][2][test] = te.dense.max(axis=1)
            s = fit(tr, gold[train])
            scores = fuse(te.dense, te.core, te.detail, s)
            held["fused"][0][test] = scores
            held["fused"][1][test] = s.threshold
            held["fused"][2][test] = confidence(scores, te.dense, te.core, te.detail, s)
            margins[test] = s.close_margin
            fits.append(s)
            fixed = {"lex_half": s.lex_half, "detail_weight": s.detail_weight}  # as the fallback runs
        else:
            fixed = None
        lexical = fit(Signals(None, tr.core, tr.detail), gold[train], fixed=fixed)
        held["lexical"][0][test] = fuse(None, te.core, te.detail, lexical)
        held["lexical"][1][test] = lexical.lexical_threshold
        held["lexical"][2][test] = held["lexical"][0][test].max(axis=1)
    return held, margins, fits


def clarity(scores, thresholds, conf, margins, gold) -> dict:
    """How the clear/close signal behaves on answered in-scope questions."""
    ordered = np.sort(scores, axis=1)
    top = scores.argmax(axis=1)
    answered = (conf >= thresholds) & (gold >= 0)
    close = (ordered[:, -1] - ordered[:, -2]) <= margins
    clear = answered & ~close
    unclear = answered & close
    in_candidates = []
    for i in np.where(unclear)[0]:
        cands = np.argsort(-scores[i])[:3]
        cands = [c for c in cands if ordered[i, -1] - scores[i, c] <= margins[i]]
        in_candidates.append(gold[i] in cands)
    return {
        "answered": int(answered.sum()),
        "clear_share": float(clear.sum() / max(1, answered.sum())),
        "clear_accuracy": float((top[clear] == gold[clear]).mean()) if clear.any() else float("nan"),
        "close_accuracy_top1": float((top[unclear] == gold[unclear]).mean()) if unclear.any() else float("nan"),
        "close_gold_in_candidates": float(np.mean(in_candidates)) if in_candidates else float("nan"),
    }


def fmt(v: float) -> str:
    return "–" if v != v else f"{v:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--write-calibration", action="store_true",
                        help="fit on all questions and write knowledge/calibration.json")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--rounds", type=int, default=1, help="time every question this many times")
    args = parser.parse_args()

    settings = get_settings()
    report = build_index(settings.knowledge_dir, settings.index_dir, settings.embedding_model)
    print(report.summary(), file=sys.stderr)
    retriever = Retriever(settings.index_dir)
    index_of = {n: i for i, n in enumerate(retriever.names)}

    questions = load_questions(EVAL_DIR)
    unknown = sorted({q["guide"] for q in questions if q["guide"] and q["guide"] not in index_of})
    if unknown:
        print(f"skipping questions about guides not in the index: {unknown}", file=sys.stderr)
        questions = [q for q in questions if not q["guide"] or q["guide"] in index_of]
    gold = np.array([index_of[q["guide"]] if q["guide"] else -1 for q in questions])
    variants = np.array([q["variant"] for q in questions])
    folds_of = np.array([fold_of(q["q"], args.folds) for q in questions])

    load_before = os.getloadavg()[0]
    signals, lat = measure(retriever, questions, max(1, args.rounds))
    load_after = os.getloadavg()[0]
    held, margins, fits = cross_validate(signals, gold, folds_of, args.folds)
    modes = [m for m in MODES if m == "lexical" or signals.dense is not None]

    print(f"\n{len(questions)} questions ({int((gold >= 0).sum())} in scope, {int((gold < 0).sum())} out of scope) "
          f"from {len({q['file'] for q in questions})} files, {len(retriever.names)} guides, "
          f"model {Path(str(retriever.manifest.get('model'))).name}, {args.folds}-fold cross-validated "
          f"(held-out) constants and thresholds; {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"latency over {len(lat['fused'])} queries, 1-min load average {load_before:.1f} -> {load_after:.1f}\n")
    print("| retriever | hit@1 | hit@3 | MRR | in-scope answered & right | in-scope answered | "
          "out-of-scope refused | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for mode in modes:
        scores, thresholds, conf = held[mode]
        m = evaluate(scores, gold, thresholds, conf)
        summary[mode] = m.as_row() | {"p50_ms": round(ms(lat[mode], 50), 2), "p95_ms": round(ms(lat[mode], 95), 2)}
        print(f"| {mode} | {fmt(m.hit1)} | {fmt(m.hit3)} | {fmt(m.mrr)} | {fmt(m.answered_correct)} | "
              f"{fmt(m.answer_rate)} | {fmt(m.refusal)} | {ms(lat[mode], 50):.1f} | {ms(lat[mode], 95):.1f} |")
    if signals.dense is not None:
        bm25 = signals.core + (fits[0].detail_weight if fits else 0.2) * signals.detail
        r = evaluate(rrf(signals.dense, bm25), gold, None)
        summary["rrf"] = r.as_row()
        print(f"| RRF k=60 (ranking only) | {fmt(r.hit1)} | {fmt(r.hit3)} | {fmt(r.mrr)} | – | – | – | – | – |")

    print("\nBy variant (held-out). In-scope rows: hit@1 / answered & right; out_of_scope row: refused.\n")
    print("| variant | n | " + " | ".join(modes) + " |")
    print("|---|---|" + "---|" * len(modes))
    by_variant = {}
    for variant in sorted(set(variants)):
        mask = variants == variant
        cells = []
        for mode in modes:
            scores, thresholds, conf = held[mode]
            m = evaluate(scores[mask], gold[mask], thresholds[mask], conf[mask])
            by_variant.setdefault(variant, {})[mode] = m.as_row()
            cells.append(fmt(m.refusal) if m.n_in == 0 else f"{fmt(m.hit1)} / {fmt(m.answered_correct)}")
        print(f"| {variant} | {int(mask.sum())} | " + " | ".join(cells) + " |")

    if signals.dense is not None:
        c = clarity(*held["fused"], margins, gold)
        summary["fused_clarity"] = c
        print(f"\nClear/close signal (fused, held-out): of {c['answered']} answered in-scope questions "
              f"{c['clear_share']:.1%} are clear, top-1 right in {fmt(c['clear_accuracy'])} of those; "
              f"when close, top-1 right in {fmt(c['close_accuracy_top1'])} and the right guide is among "
              f"the offered candidates in {fmt(c['close_gold_in_candidates'])}.")
    for f, s in enumerate(fits):
        print(f"fold {f}: dense_weight={s.dense_weight} floor={s.dense_floor} ceil={s.dense_ceil} "
              f"lex_half={s.lex_half} detail_weight={s.detail_weight} bonus={s.agreement_bonus} "
              f"threshold={s.threshold:.3f} "
              f"close_margin={s.close_margin}", file=sys.stderr)

    if args.write_calibration:
        write_calibration(signals, gold, retriever, len(questions))

    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "by_variant": by_variant}, ensure_ascii=False, indent=1))
    return 0


def write_calibration(signals: Signals, gold: np.ndarray, retriever: Retriever, n_questions: int) -> None:
    if signals.dense is not None:
        final = fit(signals, gold)
        lexical = fit(Signals(None, signals.core, signals.detail), gold, base=final,
                      fixed={"lex_half": final.lex_half, "detail_weight": final.detail_weight})
        final = replace(final, lexical_threshold=lexical.lexical_threshold)
        scores = fuse(signals.dense, signals.core, signals.detail, final)
        in_sample = evaluate(scores, gold, final.threshold,
                             confidence(scores, signals.dense, signals.core, signals.detail, final))
    else:
        final = fit(signals, gold, base=load_scoring())
        in_sample = evaluate(fuse(None, signals.core, signals.detail, final), gold, final.lexical_threshold)
    CALIBRATION_FILE.write_text(json.dumps({
        "about": "Fusion constants and thresholds for knowledge/fusion.py, fitted by bench/retrieval.py "
                 "--write-calibration on all knowledge/eval questions; held-out figures: docs/BENCHMARKS.md",
        "model": Path(str(retriever.manifest.get("model"))).name,
        "index_version": retriever.version,
        "questions": n_questions,
        "in_sample": in_sample.as_row(),
        "scoring": asdict(final),
    }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {CALIBRATION_FILE.relative_to(ROOT)}: {asdict(final)}\nin-sample: {in_sample.as_row()}")


if __name__ == "__main__":
    raise SystemExit(main())
