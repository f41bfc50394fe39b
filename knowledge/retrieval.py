"""Search the hybrid index: dense + BM25 fusion, answerability and ambiguity signals, hot reload.

`get_retriever()` is the process-wide entry point. It loads the index named by
build/index/manifest.json once, loads the embedding model once per process, and
notices a newer manifest on disk (one stat at most once per second) to swap in the
rebuilt index without a restart.

Scores are *absolute*, so one threshold decides answerability for every query:

    dense   = clip((max cosine over the guide's passages - dense_floor) / (dense_ceil - dense_floor), 0, 1)
    lexical = bm25 / (bm25 + lex_half)          (saturating: 0 for no overlap, 0.5 at lex_half)
    score   = dense_weight * dense + (1 - dense_weight) * lexical

The constants in Scoring are calibrated by bench/retrieval.py (see docs/BENCHMARKS.md).
Without an embedding model the index is lexical-only and uses its own threshold.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from knowledge.index import read_manifest
from knowledge.lexical import BM25, add_vocabulary, tokenize
from knowledge.status import MANIFEST
from nlu.textnorm import normalize


@dataclass(frozen=True)
class Scoring:
    dense_weight: float = 0.6
    dense_floor: float = 0.78
    dense_ceil: float = 0.93
    lex_half: float = 6.0
    threshold: float = 0.45          # hybrid: top score needed to answer
    lexical_threshold: float = 0.5   # lexical-only index: top score needed to answer
    close_margin: float = 0.06       # candidates within this of the top score are "close"
    max_candidates: int = 3


DEFAULT_SCORING = Scoring()


class Retriever:
    """A loaded index version. Immutable after construction; safe to share across threads."""

    def __init__(self, index_dir: Path, *, scoring: Scoring = DEFAULT_SCORING, use_dense: bool = True):
        self.index_dir = Path(index_dir)
        manifest = read_manifest(self.index_dir)
        if not manifest:
            raise FileNotFoundError(f"no index at {self.index_dir} (run: python -m knowledge build)")
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.scoring = scoring
        data = self.index_dir / manifest["data"]
        lexical = json.loads((data / "lexical.json").read_text(encoding="utf-8"))
        self.names: list[str] = lexical["names"]
        add_vocabulary(lexical.get("vocabulary", []))
        self.bm25 = BM25(lexical["tokens"])

        self.encoder = None
        self.dense_index = None
        self.owner: np.ndarray | None = None
        if use_dense and manifest.get("model") and (data / "dense.faiss").exists():
            import faiss

            from knowledge.encoder import get_encoder

            self.encoder = get_encoder(manifest["model"])
            self.dense_index = faiss.read_index(str(data / "dense.faiss"))
            passages = json.loads((data / "passages.json").read_text(encoding="utf-8"))
            self.owner = np.asarray(passages["owner"], dtype=np.int64)

    @property
    def mode(self) -> str:
        return "hybrid" if self.encoder is not None else "lexical"

    # -- the two retrievers ------------------------------------------------------------
    def dense_scores(self, text: str) -> np.ndarray | None:
        """Max cosine similarity per guide, or None for a lexical-only index."""
        if self.encoder is None:
            return None
        vector = self.encoder.query(text).reshape(1, -1)
        sims, ids = self.dense_index.search(vector, self.dense_index.ntotal)
        best = np.full(len(self.names), -1.0, dtype=np.float32)
        np.maximum.at(best, self.owner[ids[0]], sims[0])
        return best

    def lexical_scores(self, text: str) -> np.ndarray:
        scores, _ = self.bm25.scores(tokenize(text))
        return np.asarray(scores, dtype=np.float32)

    # -- fusion ---------------------------------------------------------------------------
    def fuse(self, dense: np.ndarray | None, lexical: np.ndarray, scoring: Scoring | None = None) -> np.ndarray:
        s = scoring or self.scoring
        lex = lexical / (lexical + s.lex_half)
        if dense is None:
            return lex
        dn = np.clip((dense - s.dense_floor) / (s.dense_ceil - s.dense_floor), 0.0, 1.0)
        return s.dense_weight * dn + (1.0 - s.dense_weight) * lex

    def threshold(self, scoring: Scoring | None = None) -> float:
        s = scoring or self.scoring
        return s.threshold if self.encoder is not None else s.lexical_threshold

    def search(self, query: str, k: int = 5) -> dict:
        """Best guides for a caller's question.

        Returns {"answerable", "results": [{"name", "score", "dense", "lexical"}], "clear",
        "candidates", "mode", "version"}. `clear` is False when the runner-up is within
        close_margin of the top score; `candidates` then lists the close guides (2-3) for
        the dialogue to offer as buttons.
        """
        text = normalize(query)
        k = max(1, int(k))
        if not text:
            return self._result([], False, [], True)
        dense = self.dense_scores(text)
        lexical = self.lexical_scores(text)
        fused = self.fuse(dense, lexical)
        order = np.argsort(-fused, kind="stable")[:k]
        results = [
            {
                "name": self.names[i],
                "score": round(float(fused[i]), 4),
                "dense": None if dense is None else round(float(dense[i]), 4),
                "lexical": round(float(lexical[i]), 4),
            }
            for i in order
        ]
        top = float(fused[order[0]])
        answerable = top >= self.threshold()
        ranked = np.sort(fused)[::-1]
        close = [
            self.names[i] for i in np.argsort(-fused, kind="stable")[: self.scoring.max_candidates]
            if top - float(fused[i]) <= self.scoring.close_margin
        ]
        clear = len(close) <= 1 or len(ranked) < 2
        return self._result(results, answerable, close if (answerable and not clear) else [], clear)

    def _result(self, results, answerable, candidates, clear) -> dict:
        return {
            "answerable": bool(answerable),
            "results": results,
            "clear": bool(clear),
            "candidates": candidates,
            "mode": self.mode,
            "version": self.version,
        }


class RetrieverHolder:
    """Keeps the newest Retriever for one index folder, reloading when the manifest changes."""

    def __init__(self, index_dir: Path, *, check_interval: float = 1.0, scoring: Scoring | None = None):
        self.index_dir = Path(index_dir)
        self.check_interval = check_interval
        self.scoring = scoring
        self._lock = threading.Lock()
        self._retriever: Retriever | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked_at = float("-inf")

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.index_dir / MANIFEST).stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def get(self) -> Retriever:
        now = time.monotonic()
        current = self._retriever
        if current is not None and now - self._checked_at < self.check_interval:
            return current
        with self._lock:
            if self._retriever is not None and now - self._checked_at < self.check_interval:
                return self._retriever
            self._checked_at = now
            stamp = self._manifest_stamp()
            if self._retriever is None or (stamp is not None and stamp != self._stamp):
                manifest = read_manifest(self.index_dir)
                if self._retriever is None or (manifest and manifest.get("version") != self._retriever.version):
                    self._retriever = Retriever(self.index_dir, scoring=self.scoring or load_scoring())
                self._stamp = stamp
            return self._retriever


CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


def load_scoring(path: Path = CALIBRATION_FILE) -> Scoring:
    """Scoring constants written by the benchmark's calibration (defaults if absent)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULT_SCORING
    known = set(asdict(DEFAULT_SCORING))
    return replace(DEFAULT_SCORING, **{k: v for k, v in raw.get("scoring", {}).items() if k in known})


_holders: dict[Path, RetrieverHolder] = {}
_holders_lock = threading.Lock()


def get_retriever(index_dir: Path | None = None, *, check_interval: float = 1.0) -> Retriever:
    """Process-wide accessor: the current Retriever for index_dir (default settings.index_dir)."""
    if index_dir is None:
        from core.settings import get_settings

        index_dir = get_settings().index_dir
    key = Path(index_dir).resolve()
    with _holders_lock:
        holder = _holders.get(key)
        if holder is None:
            holder = _holders[key] = RetrieverHolder(key, check_interval=check_interval)
    holder.check_interval = check_interval
    return holder.get()
