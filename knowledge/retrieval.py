"""Search the hybrid index: dense + BM25 fusion, answerability and ambiguity signals, hot reload.

`get_retriever()` is the process-wide entry point. It loads the index named by
build/index/manifest.json, loads the embedding model once per process, and notices a
newer manifest on disk (one stat at most once per second) to swap in a rebuilt index
without a restart. How the two retrievers' scores combine is in knowledge/fusion.py.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import numpy as np

from knowledge.fusion import Scoring, confidence, fuse, load_scoring, threshold_for
from knowledge.index import read_manifest
from knowledge.lexical import BM25, add_vocabulary, tokenize
from knowledge.status import MANIFEST
from nlu.textnorm import normalize

log = logging.getLogger(__name__)


class Retriever:
    """One loaded index version. Immutable after construction; safe to share across threads."""

    def __init__(self, index_dir: Path, *, scoring: Scoring | None = None, use_dense: bool = True):
        self.index_dir = Path(index_dir)
        manifest = read_manifest(self.index_dir)
        if not manifest:
            raise FileNotFoundError(f"no index at {self.index_dir} (run: python -m knowledge build)")
        self.manifest = manifest
        self.version: str = manifest["version"]
        self.scoring = scoring or load_scoring()
        data = self.index_dir / manifest["data"]
        lexical = json.loads((data / "lexical.json").read_text(encoding="utf-8"))
        self.names: list[str] = lexical["names"]
        add_vocabulary(lexical.get("vocabulary", []))
        self.bm25 = {group: BM25(tokens) for group, tokens in lexical["tokens"].items()}

        self.encoder = None
        self.dense_index = None
        self.owner: np.ndarray | None = None
        if use_dense and manifest.get("model") and (data / "dense.faiss").exists():
            import faiss

            from knowledge.encoder import get_encoder

            self.encoder = get_encoder(manifest["model"])
            if manifest.get("encoder_key") and manifest["encoder_key"] != self.encoder.key:
                log.warning("index %s was embedded with different encoder settings (%s, now %s): rebuild it",
                            self.index_dir, manifest["encoder_key"], self.encoder.key)
            self.dense_index = faiss.read_index(str(data / "dense.faiss"))
            passages = json.loads((data / "passages.json").read_text(encoding="utf-8"))
            self.owner = np.asarray(passages["owner"], dtype=np.int64)

    @property
    def hybrid(self) -> bool:
        return self.encoder is not None

    @property
    def mode(self) -> str:
        return "hybrid" if self.hybrid else "lexical"

    # -- the two retrievers (input: normalised text) ---------------------------------------
    def dense_scores(self, text: str, vector: np.ndarray | None = None) -> np.ndarray | None:
        """Max cosine similarity per guide over its passages; None for a lexical-only index.
        `vector`: the query's embedding when already computed (batch evaluation)."""
        if self.encoder is None:
            return None
        vector = (self.encoder.query(text) if vector is None else vector).reshape(1, -1)
        sims, ids = self.dense_index.search(vector, self.dense_index.ntotal)
        best = np.full(len(self.names), -1.0, dtype=np.float32)
        np.maximum.at(best, self.owner[ids[0]], sims[0])
        return best

    def lexical_scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """BM25 per guide over the core fields and over the detail fields."""
        tokens = tokenize(text)
        return self.bm25["core"].scores(tokens), self.bm25["detail"].scores(tokens)

    # -- the answer --------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, *, vector: np.ndarray | None = None) -> dict:
        """Best guides for a caller's question.

        Returns {"answerable", "results": [{"name", "score", "dense", "lexical"}], "confidence",
        "clear", "candidates", "suggestions", "mode", "version"}. `suggestions` (non-empty only for
        an unanswerable question that came close) names guides to offer as "did you mean". `answerable` is the calibrated decision that the
        top guide answers the question (False: out of scope, hand over or say so). `clear` is False
        when other guides score within close_margin of the top one; `candidates` then lists
        those 2-3 guides, best first, for the dialogue to offer as buttons.
        """
        text = normalize(query)
        if not text:
            return self._result([], False, 0.0, True, [])
        s = self.scoring
        dense = self.dense_scores(text, vector)
        core, detail = self.lexical_scores(text)
        scores = fuse(dense, core, detail, s)
        order = np.argsort(-scores, kind="stable")
        results = [
            {
                "name": self.names[i],
                "score": round(float(scores[i]), 4),
                "dense": None if dense is None else round(float(dense[i]), 4),
                "lexical": round(float(core[i] + s.detail_weight * detail[i]), 4),
            }
            for i in order[: max(1, int(k))]
        ]
        top = float(scores[order[0]])
        conf = float(confidence(scores, dense, core, detail, s))
        threshold = threshold_for(s, self.hybrid)
        answerable = conf >= threshold
        close = [self.names[i] for i in order[: s.max_candidates] if top - float(scores[i]) <= s.close_margin]
        clear = len(close) <= 1
        result = self._result(results, answerable, conf, clear, close if answerable and not clear else [])
        if not answerable and conf >= threshold - s.suggest_margin:
            result["suggestions"] = [self.names[i] for i in order[:2] if top - float(scores[i]) <= s.close_margin]
        return result

    def _result(self, results: list[dict], answerable: bool, conf: float, clear: bool,
                candidates: list[str]) -> dict:
        return {
            "answerable": bool(answerable),
            "results": results,
            "confidence": round(conf, 4),
            "clear": bool(clear),
            "candidates": candidates,
            "suggestions": [],
            "mode": self.mode,
            "version": self.version,
        }


class RetrieverHolder:
    """Keeps the newest Retriever of one index folder, reloading when the manifest changes."""

    def __init__(self, index_dir: Path, *, check_interval: float = 1.0):
        self.index_dir = Path(index_dir)
        self.check_interval = check_interval
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
        current = self._retriever
        if current is not None and time.monotonic() - self._checked_at < self.check_interval:
            return current  # fast path: no syscall, no lock
        with self._lock:
            now = time.monotonic()
            if self._retriever is not None and now - self._checked_at < self.check_interval:
                return self._retriever
            self._checked_at = now
            stamp = self._manifest_stamp()
            if self._retriever is not None and (stamp is None or stamp == self._stamp):
                return self._retriever  # unchanged (or briefly missing): keep serving
            manifest = read_manifest(self.index_dir)
            if self._retriever is None or (manifest and manifest.get("version") != self._retriever.version):
                try:
                    self._retriever = Retriever(self.index_dir)
                except (OSError, ValueError, KeyError):
                    if self._retriever is None:
                        raise
                    # A rebuild in progress or a broken index: keep the loaded one, retry later.
                    return self._retriever
            self._stamp = stamp
            return self._retriever


_holders: dict[Path, RetrieverHolder] = {}
_holders_lock = threading.Lock()


def get_retriever(index_dir: Path | None = None, *, check_interval: float = 1.0) -> Retriever:
    """Process-wide accessor: the current Retriever for index_dir (default settings.index_dir).

    Without index_dir, a process that follows the guide editor's store (knowledge/live.py) gets the index of
    the published guides. Raises FileNotFoundError until an index has been built.
    """
    if index_dir is None:
        from knowledge.live import live_retriever

        live = live_retriever()
        if live is not None:
            return live
    return file_retriever(index_dir, check_interval=check_interval)


def _index_key(index_dir: Path | None) -> Path:
    if index_dir is None:
        from knowledge.settings import knowledge_settings

        index_dir = knowledge_settings().index_dir
    return Path(index_dir).resolve()


def file_retriever(index_dir: Path | None = None, *, check_interval: float = 1.0) -> Retriever:
    """The Retriever of the built index folder itself (the base that knowledge/live.py derives from)."""
    key = _index_key(index_dir)
    with _holders_lock:
        holder = _holders.get(key)
        if holder is None:
            holder = _holders[key] = RetrieverHolder(key, check_interval=check_interval)
        holder.check_interval = check_interval
    return holder.get()


def loaded_file_retriever(index_dir: Path | None = None) -> Retriever | None:
    """The built index's Retriever if this process has loaded it already (None otherwise: nothing is loaded here)."""
    with _holders_lock:
        holder = _holders.get(_index_key(index_dir))
    if holder is None or holder._retriever is None:
        return None
    return holder.get()


def warm_up() -> None:
    """Load guides, index and embedding model at process start, not on the first caller's question."""
    import logging

    from knowledge.catalog import get_catalog

    try:
        get_catalog()
        get_retriever().search("新生儿出生", k=1)
    except Exception:  # the process still starts; /health reports the index and callers get a polite reply
        logging.getLogger(__name__).exception("knowledge warm-up failed")
