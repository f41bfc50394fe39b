"""Classify a citizen's appeal into the 3-level scheme, route it, and say how sure that is.

    classify("小区门口的路灯坏了一个月没人修") -> Classification(level1="城乡建设", level2=..., department=...,
                                                                appeal_type="投诉", confidence=0.93, manual=False)

Level 1 (15 categories): a linear SVM on character 1-3-gram TF-IDF of the appeal and its title, and a
logistic regression on multilingual-e5-small vectors (ONNX int8, build/models/e5-onnx: the first 128
tokens pooled with the next 128, and the title); their outputs are combined with weights fitted on
out-of-fold predictions, so `confidence` (the top probability) is calibrated. Trained by
scripts/train_tickets.py on real appeals (7 categories), their titles, the examples written in
data/examples.yaml and the taxonomy names (all 15); measured by bench/tickets_classify.py
(docs/BENCHMARKS.md "Ticket classifier").

Level 2 and 3 are chosen within the level-1 category by how close the appeal is to each category's
references (its names and written examples): cosine of e5 vectors plus character-bigram overlap with the
names. There are no real labelled appeals below level 1, so these are less certain; `confidence` is the
level-1 probability. Below the TICKET_MANUAL_THRESHOLD setting `manual` is true and the ticket service
puts the ticket in the manual-classification queue instead of guessing.

The model (core/tickets/model/: model.json + weights.npz, numpy arrays only) is loaded once per process, on
first use (about 2 s: the e5 export with its one tokenizer, ~0.5 GB of memory), not at start-up. Without the e5 encoder the TF-IDF model runs alone, with its own calibration.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.tickets import features
from core.tickets.appeal_type import appeal_type as guess_appeal_type
from core.tickets.routing import load_routing

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = Path(__file__).resolve().parent / "model"
E5_DIR = ROOT / "build" / "models" / "e5-onnx"
MODEL_FORMAT = 1
TOP_CANDIDATES = 3


@dataclass
class Classification:
    level1: str
    level2: str
    level3: str
    department: str
    appeal_type: str
    confidence: float                      # calibrated probability of level1, 0-1
    candidates: list[dict] = field(default_factory=list)   # top 3: {level1, level2, level3, score}
    manual: bool = False                   # confidence below the threshold: classify by hand

    def as_dict(self) -> dict:
        return asdict(self)


def _log_softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class TicketClassifier:
    """A trained model folder plus (when present) the e5 encoder."""

    def __init__(self, model_dir: Path = MODEL_DIR, e5_dir: Path | None = E5_DIR, threads: int = 1):
        meta_path, weights_path = model_dir / "model.json", model_dir / "weights.npz"
        if not meta_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(f"no ticket classifier in {model_dir} (train it: scripts/train_tickets.py)")
        self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if self.meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"{meta_path}: model format {self.meta.get('format')}, expected {MODEL_FORMAT}")
        with np.load(weights_path, allow_pickle=False) as w:
            arrays = {name: w[name] for name in w.files}
        self.classes: list[str] = self.meta["classes"]
        level1 = self.meta["level1"]
        self.tfidf_kind = level1["tfidf_kind"]
        self.tfidf = features.SparseTfidf(arrays["vocabulary"].tolist(), arrays["idf"], level1["head_weight"])
        self.tfidf_coef = arrays["tfidf_coef"].astype(np.float32)
        self.tfidf_intercept = arrays["tfidf_intercept"].astype(np.float32)
        self.e5_coef = arrays["e5_coef"].astype(np.float32)
        self.e5_intercept = arrays["e5_intercept"].astype(np.float32)
        self.weights = level1["combine"]            # {"tfidf": a, "e5": b}
        self.weights_alone = level1["tfidf_alone"]  # temperature of the TF-IDF model without e5
        self.second, self.head = level1["second"], level1["head"]
        refs = self.meta["references"]
        self.ref_paths = [tuple(r) for r in refs["paths"]]         # (level1, level2, level3 or "")
        self.ref_vectors = arrays["ref_vectors"].astype(np.float32)
        self.ref_names = refs["names"]                              # index -> name text for lexical overlap
        self.lexical_weight = float(refs["lexical_weight"])
        self._ref_bigrams = [features.han_bigrams(n) for n in self.ref_names]
        self.encoder = None
        if e5_dir is not None:
            self._load_encoder(Path(e5_dir), threads)
        self._lock = threading.Lock()

    def _load_encoder(self, e5_dir: Path, threads: int) -> None:
        try:
            from nlu.components.e5_onnx import E5Encoder

            self.encoder = E5Encoder(e5_dir, threads=threads, max_length=features.E5_WINDOW_TOKENS)
        except (FileNotFoundError, OSError, ImportError) as exc:
            log.warning("ticket classifier runs without the e5 encoder (TF-IDF only): %s", exc)
            self.encoder = None
            return
        expected = self.meta.get("e5", {}).get("model_sha256")
        if expected and self.encoder.info.get("model_sha256") != expected:
            log.warning("ticket classifier was trained with another e5 export (%s); retrain with "
                        "scripts/train_tickets.py for full accuracy", expected[:12])

    # -- level 1 -------------------------------------------------------------------------------------------------------
    def _tfidf_logp(self, text: str) -> np.ndarray:
        """Log-probabilities (logistic regression) or margins (linear SVM) of the TF-IDF model."""
        cols, values = self.tfidf.transform_one(text)
        scores = self.tfidf_coef[:, cols] @ values + self.tfidf_intercept
        return _log_softmax(scores) if self.tfidf_kind == "lr" else scores

    def _vectors(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(level-1 features, the appeal's vector for level-2/3 similarity), or None without an encoder."""
        if self.encoder is None:
            return None
        head, full = features.split_head(text)          # full: features.clean(text)
        second = features.second_chunk(full, self.encoder.tokenizer) if self.second else ""
        inputs = [full] + ([second] if second else []) + ([head] if self.head else [])
        with self._lock:  # one onnxruntime session, one thread per call
            vectors = self.encoder.encode(inputs)
        body = features.pool_windows(vectors[0], vectors[1]) if second else vectors[0]
        parts = [body] + ([vectors[-1]] if self.head else [])
        return np.concatenate(parts).astype(np.float32), body

    def level1_probabilities(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        """(probability per class in self.classes, the appeal's e5 vector or None)."""
        logp_t = self._tfidf_logp(text)
        vectors = self._vectors(text)
        if vectors is None:
            z = self.weights_alone * logp_t
            return np.exp(_log_softmax(z)), None
        features_e5, body = vectors
        logp_e = _log_softmax(self.e5_coef @ features_e5 + self.e5_intercept)
        z = self.weights["tfidf"] * logp_t + self.weights["e5"] * logp_e
        return np.exp(_log_softmax(z)), body

    # -- level 2 and 3 -------------------------------------------------------------------------------------------------
    def _ref_scores(self, text: str, vector: np.ndarray | None, indices: list[int]) -> np.ndarray:
        grams = features.han_bigrams(text)
        lexical = np.array([len(self._ref_bigrams[i] & grams) / max(1, len(self._ref_bigrams[i]))
                            for i in indices], dtype=np.float32)
        if vector is None:
            return lexical
        return self.ref_vectors[indices] @ vector + self.lexical_weight * lexical

    def below_level1(self, text: str, level1: str, vector: np.ndarray | None) -> tuple[str, str]:
        """(level2, level3) within level1: the category whose reference is most like the appeal."""
        indices = [i for i, path in enumerate(self.ref_paths) if path[0] == level1]
        if not indices:
            return "其他", "其他"
        scores = self._ref_scores(text, vector, indices)
        best: dict[str, float] = {}
        for i, score in zip(indices, scores):
            level2 = self.ref_paths[i][1]
            best[level2] = max(best.get(level2, -1e9), float(score))
        level2 = max(best, key=best.get)
        below = [(i, s) for i, s in zip(indices, scores) if self.ref_paths[i][1] == level2 and self.ref_paths[i][2]]
        if not below:
            return level2, "其他"
        by_level3: dict[str, float] = {}
        for i, score in below:
            level3 = self.ref_paths[i][2]
            by_level3[level3] = max(by_level3.get(level3, -1e9), float(score))
        return level2, max(by_level3, key=by_level3.get)

    # -- all of it -----------------------------------------------------------------------------------------------------
    def classify(self, text: str, threshold: float | None = None) -> Classification:
        if threshold is None:
            from core.settings import get_settings

            threshold = get_settings().ticket_manual_threshold
        probabilities, vector = self.level1_probabilities(text)
        order = np.argsort(-probabilities)[:TOP_CANDIDATES]
        candidates = []
        for k in order:
            level1 = self.classes[int(k)]
            level2, level3 = self.below_level1(text, level1, vector)
            candidates.append({"level1": level1, "level2": level2, "level3": level3,
                               "score": round(float(probabilities[k]), 4)})
        top = candidates[0]
        confidence = round(float(probabilities[order[0]]), 4)
        department = load_routing().department(top["level1"], top["level2"], top["level3"])
        return Classification(level1=top["level1"], level2=top["level2"], level3=top["level3"],
                              department=department, appeal_type=guess_appeal_type(text),
                              confidence=confidence, candidates=candidates, manual=confidence < threshold)


_classifier: TicketClassifier | None = None
_classifier_lock = threading.Lock()


def get_classifier() -> TicketClassifier:
    """The process-wide classifier (loaded on first use)."""
    global _classifier
    with _classifier_lock:
        if _classifier is None:
            _classifier = TicketClassifier()
        return _classifier


def classify(text: str) -> Classification:
    """Classify one appeal with the process-wide model."""
    return get_classifier().classify(text)
