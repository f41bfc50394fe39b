"""How dense and lexical evidence combine into one absolute score per guide.

Scores are absolute (comparable across queries), so a single threshold decides
whether the best guide answers the question at all:

    dense   = clip((max cosine over the guide's passages - dense_floor) / (dense_ceil - dense_floor), 0, 1)
    bm25    = bm25(core fields) + detail_weight * bm25(detail fields)
    lexical = bm25 / (bm25 + lex_half)           (saturating: 0 with no overlap, 0.5 at lex_half)
    score   = dense_weight * dense + (1 - dense_weight) * lexical

The answer decision uses a confidence: the top score, plus agreement_bonus when the
dense retriever, the lexical retriever and the fusion all put the same guide first
(in the evaluation the two retrievers agree on 89% of in-scope questions but only on
30% of out-of-scope ones). A lexical-only index (no embedding model) uses `lexical`
alone, without the bonus, against its own threshold.
The constants are fitted by `bench/retrieval.py --write-calibration` and stored in
knowledge/calibration.json; the defaults below repeat that fit (for multilingual-e5-small,
int8), so a missing file degrades nothing. Another embedding model needs its own fit.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Scoring:
    dense_weight: float = 0.5
    dense_floor: float = 0.80
    dense_ceil: float = 0.94
    lex_half: float = 12.0
    detail_weight: float = 0.1
    agreement_bonus: float = 0.05
    threshold: float = 0.805         # hybrid index: confidence needed to answer
    lexical_threshold: float = 0.787  # lexical-only index: top score needed to answer
    close_margin: float = 0.06       # guides within this of the top score are "close" candidates
    max_candidates: int = 3
    # Below the threshold but within this margin: not answered, but the top guides are offered as
    # "did you mean" buttons. On the eval set (margin 0.08) that reaches 20 of 23 unanswered in-scope
    # questions whose top guide was right, at the cost of also offering a guess for 15 of 56 refused
    # out-of-scope ones, which the caller declines (the buttons include the human agent).
    suggest_margin: float = 0.08


DEFAULT_SCORING = Scoring()


def bm25_total(core: np.ndarray, detail: np.ndarray, s: Scoring) -> np.ndarray:
    return core + s.detail_weight * detail


def lexical_part(core: np.ndarray, detail: np.ndarray, s: Scoring) -> np.ndarray:
    total = bm25_total(core, detail, s)
    return total / (total + s.lex_half)


def dense_part(dense: np.ndarray, s: Scoring) -> np.ndarray:
    return np.clip((dense - s.dense_floor) / (s.dense_ceil - s.dense_floor), 0.0, 1.0)


def fuse(dense: np.ndarray | None, core: np.ndarray, detail: np.ndarray, s: Scoring) -> np.ndarray:
    """Score of every guide (works on one query's vector or a questions x guides matrix)."""
    lexical = lexical_part(core, detail, s)
    if dense is None:
        return lexical
    return s.dense_weight * dense_part(dense, s) + (1.0 - s.dense_weight) * lexical


def confidence(scores: np.ndarray, dense: np.ndarray | None, core: np.ndarray, detail: np.ndarray,
               s: Scoring) -> np.ndarray | float:
    """Confidence that the top guide answers the query (per row for a matrix)."""
    top = scores.max(axis=-1)
    if dense is None:
        return top
    best = scores.argmax(axis=-1)
    agree = (dense.argmax(axis=-1) == best) & (bm25_total(core, detail, s).argmax(axis=-1) == best)
    return top + s.agreement_bonus * agree


def threshold_for(s: Scoring, hybrid: bool) -> float:
    return s.threshold if hybrid else s.lexical_threshold


def load_scoring(path: Path = CALIBRATION_FILE) -> Scoring:
    """Constants written by the calibration (the defaults if the file is absent or unreadable)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_SCORING
    known = set(asdict(DEFAULT_SCORING))
    return replace(DEFAULT_SCORING, **{k: v for k, v in raw.get("scoring", {}).items() if k in known})
