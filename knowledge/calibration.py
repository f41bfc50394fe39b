"""Fit the fusion constants and thresholds, and measure ranking/answerability, on labelled questions.

Works on precomputed score matrices (questions x guides), so a grid search over fusion
weights and thresholds takes seconds: `dense` = max cosine per guide (None for no model),
`core` / `detail` = raw BM25 per guide of the two lexical groups. gold[i] is the guide
number of question i, or -1 when the question is out of scope and must be refused.

Targets (product brief): refuse >= 90% of out-of-scope questions with in-scope hit@1 >= 0.92.
The fit aims at a higher refusal rate (REFUSAL_GOAL) because a threshold set exactly at the
90th percentile of the questions it was fitted on refuses fewer unseen ones.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from knowledge.fusion import Scoring, confidence, fuse

REFUSAL_TARGET = 0.90
REFUSAL_GOAL = 0.93
MAX_CLOSE_RATE = 0.15  # offer candidate buttons for at most this share of answered questions

# Deliberately coarse: with ~50 out-of-scope questions per fit, a finer grid only fits noise
# (a wider grid scored worse held-out). The cosine scaling is fixed to e5-small's range.
GRID = {
    "dense_weight": [0.3, 0.4, 0.5],
    "dense_floor": [0.80],
    "dense_ceil": [0.94],
    "lex_half": [5.0, 8.0, 12.0],
    "detail_weight": [0.1, 0.2],
    "agreement_bonus": [0.0, 0.05, 0.1, 0.15],
}
CLOSE_MARGINS = [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.10]


@dataclass(frozen=True)
class Signals:
    """Per-question, per-guide raw scores of the two retrievers."""
    dense: np.ndarray | None
    core: np.ndarray
    detail: np.ndarray

    def rows(self, mask) -> "Signals":
        return Signals(None if self.dense is None else self.dense[mask], self.core[mask], self.detail[mask])


@dataclass(frozen=True)
class Metrics:
    n_in: int
    n_out: int
    hit1: float
    hit3: float
    mrr: float
    answered_correct: float  # in-scope: answerable and the top guide is right
    answer_rate: float       # in-scope: answerable at all
    refusal: float           # out-of-scope: not answerable

    def as_row(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def evaluate(scores: np.ndarray, gold: np.ndarray, thresholds, conf: np.ndarray | None = None) -> Metrics:
    """Ranking and answerability metrics.

    thresholds: a number, a per-row array, or None (answer everything); conf: the confidence
    compared with it (default: the top score).
    """
    inside = gold >= 0
    top = scores.max(axis=1) if conf is None else conf
    answerable = np.ones(len(gold), bool) if thresholds is None else top >= thresholds
    nan = float("nan")
    hit1 = hit3 = mrr = answered_correct = answer_rate = nan
    if inside.any():
        s_in, g = scores[inside], gold[inside]
        gold_score = s_in[np.arange(len(g)), g]
        rank = (s_in > gold_score[:, None]).sum(axis=1)  # 0 = first
        hit1, hit3 = float((rank == 0).mean()), float((rank < 3).mean())
        mrr = float((1.0 / (rank + 1)).mean())
        answered_correct = float(((rank == 0) & answerable[inside]).mean())
        answer_rate = float(answerable[inside].mean())
    refusal = float((~answerable[~inside]).mean()) if (~inside).any() else nan
    return Metrics(int(inside.sum()), int((~inside).sum()), hit1, hit3, mrr, answered_correct, answer_rate, refusal)


def pick_threshold(scores: np.ndarray, gold: np.ndarray, goal: float = REFUSAL_GOAL,
                   conf: np.ndarray | None = None) -> tuple[float, float]:
    """Lowest threshold refusing `goal` of the out-of-scope questions; returns (threshold, utility).

    Utility = share of in-scope questions answered correctly + share of out-of-scope refused.
    """
    inside = gold >= 0
    top = scores.max(axis=1) if conf is None else conf
    out_top = np.sort(top[~inside])
    if len(out_top) == 0:
        threshold = float(top[inside].min()) if inside.any() else 0.5
    else:
        need = int(np.ceil(goal * len(out_top)))
        threshold = float(out_top[need - 1]) + 1e-6 if need > 0 else 0.0
    answered = top >= threshold
    correct = np.zeros(len(gold), bool)
    correct[inside] = scores[inside].argmax(axis=1) == gold[inside]
    utility = float((correct & answered)[inside].mean()) if inside.any() else 0.0
    utility += float((~answered[~inside]).mean()) if (~inside).any() else 0.0
    return threshold, utility


def _configs(signals: Signals, base: Scoring, fixed: dict | None) -> list[Scoring]:
    grid = dict(GRID)
    if signals.dense is None:
        grid = {k: v for k, v in grid.items() if k in ("lex_half", "detail_weight")}
    for key, value in (fixed or {}).items():
        grid[key] = [value]
    keys = list(grid)
    return [replace(base, **dict(zip(keys, values))) for values in itertools.product(*(grid[k] for k in keys))]


def _threshold(signals: Signals, gold: np.ndarray, s: Scoring) -> float:
    scores = fuse(signals.dense, signals.core, signals.detail, s)
    return pick_threshold(scores, gold, conf=confidence(scores, signals.dense, signals.core, signals.detail, s))[0]


def _held_out_utility(signals: Signals, gold: np.ndarray, s: Scoring, folds: np.ndarray) -> float:
    """Mean over folds of (in-scope answered & right + out-of-scope refused), threshold fitted on the rest."""
    total = 0.0
    for f in np.unique(folds):
        train, test = folds != f, folds == f
        threshold = _threshold(signals.rows(train), gold[train], s)
        te = signals.rows(test)
        scores = fuse(te.dense, te.core, te.detail, s)
        m = evaluate(scores, gold[test], threshold, confidence(scores, te.dense, te.core, te.detail, s))
        total += (0.0 if m.n_in == 0 else m.answered_correct) + (0.0 if m.n_out == 0 else m.refusal)
    return total / len(np.unique(folds))


def fit(signals: Signals, gold: np.ndarray, base: Scoring = Scoring(), fixed: dict | None = None,
        inner_folds: int = 4) -> Scoring:
    """Choose fusion constants by cross-validated utility, then fit the threshold on all the data.

    Without dense scores, fits the lexical-only threshold (and lex_half/detail_weight unless
    `fixed` pins them).
    """
    folds = np.random.default_rng(12345).permutation(len(gold)) % inner_folds
    configs = _configs(signals, base, fixed)
    best = max(configs, key=lambda s: _held_out_utility(signals, gold, s, folds)) if len(configs) > 1 else configs[0]
    threshold = _threshold(signals, gold, best)
    key = "threshold" if signals.dense is not None else "lexical_threshold"
    best = replace(best, **{key: threshold})
    return replace(best, close_margin=fit_close_margin(signals, gold, best))


def fit_close_margin(signals: Signals, gold: np.ndarray, s: Scoring) -> float:
    """Widest margin that flags at most MAX_CLOSE_RATE of answered in-scope questions as unclear."""
    scores = fuse(signals.dense, signals.core, signals.detail, s)
    conf = confidence(scores, signals.dense, signals.core, signals.detail, s)
    threshold = s.threshold if signals.dense is not None else s.lexical_threshold
    ordered = np.sort(scores, axis=1)
    gap = ordered[:, -1] - ordered[:, -2]
    answered = (conf >= threshold) & (gold >= 0)
    if not answered.any():
        return CLOSE_MARGINS[0]
    chosen = CLOSE_MARGINS[0]
    for margin in CLOSE_MARGINS:
        if (gap[answered] <= margin).mean() <= MAX_CLOSE_RATE:
            chosen = margin
    return chosen


def fit_dense_only(dense: np.ndarray, gold: np.ndarray) -> float:
    """Threshold on the raw max cosine for the dense-alone baseline."""
    return pick_threshold(dense, gold)[0]


def rrf(dense: np.ndarray, lexical: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion, for comparison (ranking only: its scores carry no absolute confidence)."""
    def ranks(m):
        order = np.argsort(-m, axis=1, kind="stable")
        r = np.empty_like(order)
        r[np.arange(m.shape[0])[:, None], order] = np.arange(m.shape[1])[None, :]
        return r
    return 1.0 / (k + 1 + ranks(dense)) + 1.0 / (k + 1 + ranks(lexical))
