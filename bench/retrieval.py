"""Knowledge-retrieval benchmark: dense alone, lexical alone and fused, on the held-out questions.

    python bench/retrieval.py [--write-calibration] [--folds 2]

Reads every knowledge/eval/questions_*.yaml ({q, guide (name or null = out of scope), variant}),
builds/refreshes the index (incremental), scores each question once with both retrievers
and reports hit@1, hit@3, MRR, answerable/unanswerable accuracy and query latency.

Honesty about tuning: fusion constants and thresholds are fitted by k-fold cross-validation
(questions split by a hash of their text). The headline figures are the *held-out* ones:
every question is scored with constants fitted on the other folds. --write-calibration then
fits on all questions and saves knowledge/calibration.json, which the Retriever loads.
"""
from __future__ import annotations

import argparse
import hashlib
import json
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
from knowledge.calibration import evaluate, fit, fit_dense_only, fused, rrf  # noqa: E402
from knowledge.index import build_index  # noqa: E402
from knowledge.retrieval import CALIBRATION_FILE, Retriever, Scoring, load_scoring  # noqa: E402
from nlu.textnorm import normalize  # noqa: E402

EVAL_DIR = ROOT / "knowledge" / "eval"
OUT_OF_SCOPE = "out_of_scope"


def load_questions(folder: Path) -> list[dict]:
    questions = []
    for path in sorted(folder.glob("questions_*.yaml")):
        for row in yaml.safe_load(path.read_text(encoding="utf-8")) or []:
            questions.append({"q": str(row["q"]), "guide": row.get("guide"),
                              "variant": row.get("variant") or ("out_of_scope" if not row.get("guide") else "plain"),
                              "file": path.name})
    return questions


def fold_of(text: str, folds: int) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % folds


def percentile_ms(samples: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(samples) * 1000.0, p)) if samples else float("nan")


def measure(retriever: Retriever, questions: list[dict]):
    """Score matrices (questions x guides) and per-query latencies of each retriever."""
    dense_rows, bm25_rows = [], []
    lat = {"dense": [], "lexical": [], "fused": []}
    warm = [q["q"] for q in questions[:5]]
    for text in warm:  # first calls pay for lazy initialisation
        retriever.search(text)
    for row in questions:
        text = normalize(row["q"])
        t0 = time.perf_counter()
        dense = retriever.dense_scores(text)
        t1 = time.perf_counter()
        bm25 = retriever.lexical_scores(text)
        t2 = time.perf_counter()
        retriever.search(row["q"])
        t3 = time.perf_counter()
        lat["dense"].append(t1 - t0)
        lat["lexical"].append(t2 - t1)
        lat["fused"].append(t3 - t2)
        if dense is not None:
            dense_rows.append(dense)
        bm25_rows.append(bm25)
    dense = np.vstack(dense_rows) if dense_rows else None
    return dense, np.vstack(bm25_rows), lat


def held_out_scores(dense, bm25, gold, folds_of, folds: int):
    """Per mode: score matrix and per-question threshold, each fitted without that question's fold."""
    n = len(gold)
    out = {m: (np.zeros_like(bm25), np.zeros(n)) for m in ("dense", "lexical", "fused")}
    fitted = []
    for f in range(folds):
        train, test = folds_of != f, folds_of == f
        if dense is not None:
            t_dense = fit_dense_only(dense[train], gold[train])
            out["dense"][0][test] = dense[test]
            out["dense"][1][test] = t_dense
            s = fit(dense[train], bm25[train], gold[train])
            out["fused"][0][test] = fused(dense[test], bm25[test], s)
            out["fused"][1][test] = s.threshold
            fitted.append(s)
        s_lex = fit(None, bm25[train], gold[train])
        out["lexical"][0][test] = fused(None, bm25[test], s_lex)
        out["lexical"][1][test] = s_lex.lexical_threshold
    return out, fitted


def evaluate_rows(scores, thresholds, gold, mask):
    """Metrics over the questions in mask, each with its own (fold's) threshold."""
    s, g, t = scores[mask], gold[mask], thresholds[mask]
    # evaluate() takes one threshold; shift scores so each row's threshold becomes 0.
    return evaluate(s - t[:, None], g, 0.0)


def fmt(v: float) -> str:
    return "–" if v != v else f"{v:.3f}"  # NaN -> dash


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--write-calibration", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()

    settings = get_settings()
    report = build_index(settings.knowledge_dir, settings.index_dir, settings.embedding_model)
    print(report.summary(), file=sys.stderr)
    retriever = Retriever(settings.index_dir, scoring=load_scoring())
    names = {n: i for i, n in enumerate(retriever.names)}

    questions = load_questions(EVAL_DIR)
    unknown = sorted({q["guide"] for q in questions if q["guide"] and q["guide"] not in names})
    if unknown:
        print(f"skipping questions about guides not in the index: {unknown}", file=sys.stderr)
        questions = [q for q in questions if not q["guide"] or q["guide"] in names]
    gold = np.array([names[q["guide"]] if q["guide"] else -1 for q in questions])
    variants = np.array([q["variant"] for q in questions])
    folds_of = np.array([fold_of(q["q"], args.folds) for q in questions])

    dense, bm25, lat = measure(retriever, questions)
    held, fitted = held_out_scores(dense, bm25, gold, folds_of, args.folds)
    everything = np.ones(len(gold), bool)

    print(f"\n{len(questions)} questions ({int((gold >= 0).sum())} in scope, {int((gold < 0).sum())} out of scope), "
          f"{len(retriever.names)} guides, {args.folds}-fold cross-validated thresholds\n")
    print("| retriever | hit@1 | hit@3 | MRR | in-scope answered correctly | out-of-scope refused | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    summary = {}
    for mode in ("dense", "lexical", "fused"):
        if mode != "lexical" and dense is None:
            continue
        m = evaluate_rows(*held[mode], gold, everything)
        summary[mode] = m.as_row() | {"p50_ms": percentile_ms(lat[mode], 50), "p95_ms": percentile_ms(lat[mode], 95)}
        print(f"| {mode} | {fmt(m.hit1)} | {fmt(m.hit3)} | {fmt(m.mrr)} | {fmt(m.answered_correct)} | "
              f"{fmt(m.refusal)} | {percentile_ms(lat[mode], 50):.1f} | {percentile_ms(lat[mode], 95):.1f} |")
    if dense is not None:
        r = evaluate(rrf(dense, bm25), gold, None)
        print(f"| RRF (ranking only, k=60) | {fmt(r.hit1)} | {fmt(r.hit3)} | {fmt(r.mrr)} | – | – | – | – |")

    print("\nBy variant (held-out; hit@1 = ranking, answered = answerable and right; refused = out of scope):\n")
    modes = [m for m in ("dense", "lexical", "fused") if m in summary]
    print("| variant | n | " + " | ".join(f"{m} hit@1 | {m} answered/refused" for m in modes) + " |")
    print("|---|---|" + "---|---|" * len(modes))
    by_variant = {}
    for variant in sorted(set(variants)):
        mask = variants == variant
        cells = []
        for mode in modes:
            m = evaluate_rows(*held[mode], gold, mask)
            by_variant.setdefault(variant, {})[mode] = m.as_row()
            second = m.refusal if m.n_in == 0 else m.answered_correct
            cells.append(f"{fmt(m.hit1)} | {fmt(second)}")
        print(f"| {variant} | {int(mask.sum())} | " + " | ".join(cells) + " |")

    for f, s in enumerate(fitted):
        print(f"\nfold {f} fit: dense_weight={s.dense_weight} floor={s.dense_floor} ceil={s.dense_ceil} "
              f"lex_half={s.lex_half} threshold={s.threshold:.3f}", file=sys.stderr)

    if args.write_calibration:
        final = fit(dense, bm25, gold) if dense is not None else load_scoring()
        # The lexical-only fallback shares lex_half with the fused score; fit only its threshold.
        lexical_only = fit(None, bm25, gold, base=final, lex_halves=[final.lex_half])
        final = replace(final, lexical_threshold=lexical_only.lexical_threshold)
        in_sample = evaluate(fused(dense, bm25, final), gold, final.threshold) if dense is not None else None
        CALIBRATION_FILE.write_text(json.dumps({
            "model": Path(settings.embedding_model).name,
            "questions": len(questions),
            "fitted_on": "all knowledge/eval questions (see docs/BENCHMARKS.md for held-out figures)",
            "scoring": asdict(final),
        }, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {CALIBRATION_FILE.relative_to(ROOT)}: {asdict(final)}")
        if in_sample:
            print(f"in-sample with final constants: {in_sample.as_row()}")

    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "by_variant": by_variant}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
