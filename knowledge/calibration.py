"""Fit the retrieval Scoring constants and measure ranking/answerability on labelled questions.

Works on precomputed score matrices (questions x guides) so that a grid search over
fusion weights and thresholds takes milliseconds: dense = max cosine per guide,
bm25 = raw BM25 per guide. gold[i] is the guide number of question i, or -1 when the
question is out of scope and must be refused.

Targets (from the product brief): refuse >= 90% of out-of-scope questions while in-scope
hit@1 stays >= 0.92. The fit keeps a safety margin on the refusal rate because the
threshold is chosen on the same kind of data it is judged on.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from knowledge.retrieval import Scoring

REFUSAL_TARGET = 0.90
REFUSAL_MARGIN = 0.03  # fit for 93% so that unseen questions still clear 90%


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
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def fused(dense: np.ndarray | None, bm25: np.ndarray, s: Scoring) -> np.ndarray:
    lex = bm25 / (bm25 + s.lex_half)
    if dense is None:
        return lex
    dn = np.clip((dense - s.dense_floor) / (s.dense_ceil - s.dense_floor), 0.0, 1.0)
    return s.dense_weight * dn + (1.0 - s.dense_weight) * lex


def rrf(dense: np.ndarray, bm25: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion (ranking only: its scores carry no absolute confidence)."""
    def ranks(m):
        order = np.argsort(-m, axis=1, kind="stable")
        r = np.empty_like(order)
        rows = np.arange(m.shape[0])[:, None]
        r[rows, order] = np.arange(m.shape[1])[None, :]
        return r
    return 1.0 / (k + 1 + ranks(dense)) + 1.0 / (k + 1 + ranks(bm25))


def evaluate(scores: np.ndarray, gold: np.ndarray, threshold: float | None) -> Metrics:
    """Ranking and answerability metrics of one score matrix."""
    inside = gold >= 0
    top = scores.max(axis=1)
    answerable = np.ones(len(gold), bool) if threshold is None else top >= threshold
    if inside.any():
        s_in = scores[inside]
        g = gold[inside]
        gold_score = s_in[np.arange(len(g)), g]
        rank = (s_in > gold_score[:, None]).sum(axis=1)  # 0 = first (ties count in favour)
        hit1 = float((rank == 0).mean())
        hit3 = float((rank < 3).mean())
        mrr = float((1.0 / (rank + 1)).mean())
        correct = (rank == 0) & answerable[inside]
        answered_correct = float(correct.mean())
        answer_rate = float(answerable[inside].mean())
    else:
        hit1 = hit3 = mrr = answered_correct = answer_rate = float("nan")
    refusal = float((~answerable[~inside]).mean()) if (~inside).any() else float("nan")
    return Metrics(int(inside.sum()), int((~inside).sum()), hit1, hit3, mrr, answered_correct, answer_rate, refusal)


def pick_threshold(top: np.ndarray, correct: np.ndarray, inside: np.ndarray,
                   refusal_goal: float = REFUSAL_TARGET + REFUSAL_MARGIN) -> tuple[float, float]:
    """Lowest threshold that refuses refusal_goal of out-of-scope questions; returns (threshold, utility).

    Utility = share of in-scope questions answered correctly + share of out-of-scope refused,
    so a choice that meets the refusal goal is compared on both sides.
    """
    out_top = np.sort(top[~inside])
    if len(out_top) == 0:
        threshold = float(np.min(top[inside])) if inside.any() else 0.5
    else:
        # Refuse at least ceil(goal * n) of them: threshold just above the k-th smallest top score.
        need = int(np.ceil(refusal_goal * len(out_top)))
        threshold = float(out_top[need - 1]) + 1e-6 if need > 0 else 0.0
    answered = top >= threshold
    utility = float((correct & answered)[inside].mean() if inside.any() else 0.0)
    utility += float((~answered[~inside]).mean()) if (~inside).any() else 0.0
    return threshold, utility


GRID = {
    "dense_weight": [0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
    "dense_floor": [0.78, 0.80, 0.82, 0.84],
    "dense_ceil": [0.90, 0.92, 0.94],
    "lex_half": [3.0, 5.0, 8.0, 12.0, 18.0],
}


def fit(dense: np.ndarray | None, bm25: np.ndarray, gold: np.ndarray,
        base: Scoring = Scoring(), lex_halves: list[float] | None = None) -> Scoring:
    """Grid-search fusion constants and the threshold on these questions.

    With dense=None only the lexical-only threshold (and lex_half, unless lex_halves pins it) is fitted.
    """
    inside = gold >= 0
    best: tuple[float, Scoring] | None = None
    if dense is None:
        combos = [dict(lex_half=h) for h in (lex_halves or GRID["lex_half"])]
    else:
        keys = list(GRID)
        combos = [dict(zip(keys, values)) for values in itertools.product(*(GRID[k] for k in keys))]
    for combo in combos:
        s = replace(base, **combo)
        scores = fused(dense, bm25, s)
        top = scores.max(axis=1)
        correct = np.zeros(len(gold), bool)
        correct[inside] = scores[inside].argmax(axis=1) == gold[inside]
        threshold, utility = pick_threshold(top, correct, inside)
        s = replace(s, **({"threshold": threshold} if dense is not None else {"lexical_threshold": threshold}))
        if best is None or utility > best[0] + 1e-9:
            best = (utility, s)
    return best[1]


def fit_dense_only(dense: np.ndarray, gold: np.ndarray) -> float:
    """Threshold on the raw max cosine for the dense-alone baseline."""
    inside = gold >= 0
    top = dense.max(axis=1)
    correct = np.zeros(len(gold), bool)
    correct[inside] = dense[inside].argmax(axis=1) == gold[inside]
    return pick_threshold(top, correct, inside)[0]
