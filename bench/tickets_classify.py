"""Ticket classifier benchmark: level-1 accuracy on real appeals never seen, against the plain baseline.

    .venv/app/bin/python bench/tickets_classify.py [--data ../shared/data] [--json out.json] [--latency 200]

Data (not in git): ../shared/data/tickets_train_raw.tsv and tickets_train_tokens.tsv (7 of the 15 level-1
categories). Duplicates are grouped as in scripts/train_tickets.py (a tokens row is mostly a raw row again).

- Held-out split: a seeded (12345), stratified 20 % of the raw appeals; every row of their duplicate groups
  (their tokens copies, near-identical appeals) is excluded from training. Nothing is tuned on it.
- 5-fold cross-validation on the training part (folds over duplicate groups): the figures the settings
  (scripts/train_tickets.Params, the mix of the two models, the manual threshold) were chosen by.
- Baseline: plain word TF-IDF (jieba words; the tokens file's own words) + linear SVM, real rows only.
- Ours: character TF-IDF + linear SVM, e5 + logistic regression, and their calibrated combination, trained
  with the written examples and taxonomy names (all 15 categories), as the shipped model is.
Accuracy and macro F1 are over raw appeals (title + body, as callers write them); macro F1 averages the
7 categories present (a prediction of another category counts as an error).
Also: the manual-classification threshold's coverage / accuracy on the held-out appeals, the expected
calibration error, and the latency of one classification with the shipped model (core/tickets/model).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts import train_tickets as tt  # noqa: E402

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    labels = sorted(set(y_true.tolist()))
    return {"accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=labels, average="macro")), 4),
            "n": int(len(y_true))}


def baseline_tokens(row: tt.Row) -> list[str]:
    import jieba

    return row.text_tokens if getattr(row, "text_tokens", None) else [w for w in jieba.lcut(row.text) if w.strip()]


def baseline_fit_predict(train_rows: list[tt.Row], test_rows: list[tt.Row]) -> list[str]:
    """Plain word TF-IDF + LinearSVC (scikit-learn defaults) on the real rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    vectorizer = TfidfVectorizer(analyzer=lambda words: words)
    matrix = vectorizer.fit_transform([baseline_tokens(r) for r in train_rows])
    model = LinearSVC().fit(matrix, [r.level1 for r in train_rows])
    return model.predict(vectorizer.transform([baseline_tokens(r) for r in test_rows])).tolist()


def attach_tokens(rows: list[tt.Row], data_dir: Path) -> None:
    """The tokens file's own words for its rows (the baseline uses them as given)."""
    by_text = {}
    for record in tt.read_tsv(data_dir / tt.TOKENS_FILE):
        words = (record.get("tokens") or "").split()
        by_text.setdefault("".join(words), words)
    for row in rows:
        row.text_tokens = by_text.get(row.text) if row.source == "tokens" else None


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            total += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return round(float(total), 4)


def combine(weights: dict, logp_t: np.ndarray, logp_e: np.ndarray) -> np.ndarray:
    z = weights["tfidf"] * logp_t + weights["e5"] * logp_e
    return np.exp(tt.log_softmax(z))


def threshold_table(probabilities: np.ndarray, y: np.ndarray) -> list[dict]:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == y
    table = []
    for t in THRESHOLDS:
        kept = confidence >= t
        table.append({"threshold": t, "coverage": round(float(kept.mean()), 4),
                      "accuracy_of_kept": round(float(correct[kept].mean()), 4) if kept.any() else None,
                      "to_manual": int((~kept).sum())})
    return table


def latency(texts: list[str], runs: int) -> dict:
    from core.tickets.classifier import TicketClassifier

    started = time.perf_counter()
    model = TicketClassifier()
    load = time.perf_counter() - started
    model.classify("小区门口的路灯坏了", threshold=0.5)
    times = []
    for text in (texts * (runs // max(1, len(texts)) + 1))[:runs]:
        t0 = time.perf_counter()
        model.classify(text, threshold=0.5)
        times.append((time.perf_counter() - t0) * 1000)
    short = []
    for _ in range(min(runs, 50)):
        t0 = time.perf_counter()
        model.classify("我们小区的路灯坏了一个多月了没人修", threshold=0.5)
        short.append((time.perf_counter() - t0) * 1000)
    return {"load_seconds": round(load, 2), "p50_ms": round(float(np.percentile(times, 50)), 1),
            "p95_ms": round(float(np.percentile(times, 95)), 1),
            "short_p50_ms": round(float(np.percentile(short, 50)), 1), "runs": len(times),
            "encoder": model.encoder is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=tt.DATA_DIR)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--latency", type=int, default=200, help="classifications timed with the shipped model")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    report: dict = {"machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores",
                    "date": time.strftime("%Y-%m-%d")}

    rows = tt.load_real_rows(args.data)
    tt.group_duplicates(rows)
    attach_tokens(rows, args.data)
    train_idx, held_idx = tt.heldout_split(rows)
    train_rows = [rows[i] for i in train_idx]
    held_rows = [rows[i] for i in held_idx]
    excluded = len(rows) - len(train_idx) - len(held_idx)
    report["split"] = {"real_rows": len(rows), "training_rows": len(train_rows), "heldout_raw_appeals": len(held_rows),
                       "excluded_duplicates_of_heldout": excluded}
    print(f"held out {len(held_rows)} raw appeals; {excluded} duplicate rows of them left out of training; "
          f"training on {len(train_rows)} real rows", flush=True)

    # ours: cross-validation on the training part (inside train) and the held-out appeals
    cache = tt.E5Cache()                  # one encoder for training and the held-out features
    result = tt.train(train_rows, cache=cache)
    classes, weights = result["classes"], result["weights"]
    all_rows = result["rows"]
    y_all = np.array([classes.index(r.level1) for r in all_rows])
    logp_t, logp_e = result["oof"]
    raw = np.array([r.source == "raw" for r in all_rows])
    cv_prob = combine(weights, logp_t, logp_e)
    cv = {
        "tfidf_svm": metrics(y_all[raw], logp_t.argmax(1)[raw]),
        "e5_lr": metrics(y_all[raw], logp_e.argmax(1)[raw]),
        "combined": metrics(y_all[raw], cv_prob.argmax(1)[raw]),
    }
    real_classes = {r.level1 for r in train_rows}
    synthetic = np.array([r.source == "example" and r.level1 not in real_classes for r in all_rows])
    cv["combined_written_examples_without_real_appeals"] = metrics(
        y_all[synthetic], cv_prob.argmax(1)[synthetic])
    written_real = np.array([r.source == "example" and r.level1 in real_classes for r in all_rows])
    cv["combined_written_examples_with_real_appeals"] = metrics(
        y_all[written_real], cv_prob.argmax(1)[written_real])
    for name, mask in (("without", synthetic), ("with", written_real)):
        cv[f"tfidf_svm_written_examples_{name}_real_appeals"] = metrics(y_all[mask], logp_t.argmax(1)[mask])
        cv[f"e5_lr_written_examples_{name}_real_appeals"] = metrics(y_all[mask], logp_e.argmax(1)[mask])
    cv["thresholds"] = threshold_table(cv_prob[raw], y_all[raw])
    cv["mix"] = weights["mix"]
    cv["mix_grid"] = {str(k): v for k, v in weights["grid"].items()}

    model = result["model"]
    held_e5 = tt.e5_features(held_rows, cache, second=model.params.second, head=model.params.head)
    y_held = np.array([classes.index(r.level1) for r in held_rows])
    held_t = model.logp_tfidf_texts([r.text for r in held_rows])
    held_e = model.logp_e5(held_e5)
    held_prob = combine(weights, held_t, held_e)
    heldout = {
        "tfidf_svm": metrics(y_held, held_t.argmax(1)),
        "e5_lr": metrics(y_held, held_e.argmax(1)),
        "combined": metrics(y_held, held_prob.argmax(1)),
        "thresholds": threshold_table(held_prob, y_held),
        "calibration_error": expected_calibration_error(held_prob.max(1), held_prob.argmax(1) == y_held),
        "predicted_a_category_without_real_appeals": int(np.isin(
            held_prob.argmax(1), [classes.index(c) for c in classes if c not in real_classes]).sum()),
    }
    from sklearn.metrics import classification_report

    heldout["per_category_f1"] = {
        k: round(v["f1-score"], 3) for k, v in classification_report(
            [classes[i] for i in y_held], [classes[i] for i in held_prob.argmax(1)], output_dict=True,
            zero_division=0).items() if k in real_classes}

    # baseline: same folds for CV (real rows), and the held-out appeals
    real_rows = [r for r in all_rows if r.source in ("raw", "tokens")]
    folds = tt.fold_ids(real_rows)  # 5 seeded folds over duplicate groups, like ours (same rule, own partition)
    predicted = np.empty(len(real_rows), dtype=object)
    for fold in range(5):
        train_part = [r for r, f in zip(real_rows, folds) if f != fold]
        test_at = [i for i, f in enumerate(folds) if f == fold]
        predicted[test_at] = baseline_fit_predict(train_part, [real_rows[i] for i in test_at])
    raw_real = np.array([r.source == "raw" for r in real_rows])
    y_real = np.array([r.level1 for r in real_rows])
    cv["baseline_word_tfidf_svm"] = metrics(y_real[raw_real], predicted[raw_real].astype(str))
    y_held_names = np.array([r.level1 for r in held_rows])
    heldout["baseline_word_tfidf_svm"] = metrics(y_held_names, np.array(baseline_fit_predict(real_rows, held_rows)))
    # the same baseline trained on the raw file alone (no tokens file): what "plain TF-IDF + SVM" usually means
    raw_only = [r for r in real_rows if r.source == "raw"]
    raw_folds = folds[raw_real]
    predicted_raw = np.empty(len(raw_only), dtype=object)
    for fold in range(5):
        test_at = [i for i, f in enumerate(raw_folds) if f == fold]
        predicted_raw[test_at] = baseline_fit_predict([r for r, f in zip(raw_only, raw_folds) if f != fold],
                                                      [raw_only[i] for i in test_at])
    cv["baseline_word_tfidf_svm_raw_file_only"] = metrics(y_real[raw_real], predicted_raw.astype(str))
    heldout["baseline_word_tfidf_svm_raw_file_only"] = metrics(
        y_held_names, np.array(baseline_fit_predict(raw_only, held_rows)))
    report["cross_validation"] = cv
    report["heldout"] = heldout
    report["level2_leave_one_out_written_examples"] = {
        "lexical_weight": result["meta"]["references"]["lexical_weight"],
        "grid (level-2 accuracy, level-3 accuracy given level-2)": result["meta"]["references"]["leave_one_out"]}
    if args.latency:
        report["latency"] = latency([r.text for r in held_rows[:100]], args.latency)
    report["seconds"] = round(time.perf_counter() - started)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
