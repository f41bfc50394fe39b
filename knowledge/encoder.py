"""Sentence-embedding model wrapper: one loaded model per process, with the right prompts.

The model is named by settings.embedding_model: the exported ONNX e5 folder (the default,
build/models/e5-onnx: onnxruntime only, so neither the gateway nor the action server loads
torch), a local sentence-transformers folder, or a model id already in the local cache
(nothing is downloaded at run time). Models
trained with instructions need them: e5 wants "query: " / "passage: ", bge-*-zh wants
a retrieval instruction before short queries. Prompts saved in the model folder
(config_sentence_transformers.json) win over the name-based defaults below.

Speed (sentence-transformers models): the Linear layers are quantised to int8 (torch dynamic quantisation), which
halves query time on CPU (e5-small: ~30 ms -> ~15 ms per query on one core) at a small
cost in precision; passages and queries go through the same quantised model, and the
vector cache key records it. EMBEDDING_INT8=0 turns it off (then rebuild the index).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

BGE_ZH_QUERY = "为这个句子生成表示以用于检索相关文章："
QUERY_THREADS = 1
ONNX_INFO = "e5.json"
PASSAGE_MAX_TOKENS = 512  # e5's own limit; queries keep the export's shorter window (e5.json max_length)


@contextmanager
def _torch_threads(torch, threads: int | None):
    """Temporarily set torch's intra-op thread count (callers hold the encoder lock)."""
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    if before != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if before != threads:
            torch.set_num_threads(before)


def default_prompts(model_name: str) -> tuple[str, str]:
    """(query prefix, passage prefix) for well-known model families."""
    name = Path(model_name).name.lower() if model_name else ""
    if "e5" in name:
        return "query: ", "passage: "
    if "bge" in name and "zh" in name:
        return BGE_ZH_QUERY, ""
    return "", ""


def _saved_prompts(model_name: str) -> dict:
    """Prompts saved with a local sentence-transformers folder, if any."""
    path = Path(model_name) / "config_sentence_transformers.json"
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("prompts") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def resolve_prompts(model_name: str, saved: dict) -> tuple[str, str]:
    """(query prefix, passage prefix): prompts saved with the model win over name-based defaults."""
    query_prefix, passage_prefix = default_prompts(model_name)
    return (saved.get("query") or query_prefix,
            saved.get("passage") or saved.get("document") or passage_prefix)


def encoder_key(model_name: str, passage_prefix: str, precision: bool | str) -> str:
    """Identifies a vector space: model, passage prompt, precision (the vector cache key). `precision`: True/False
    for a sentence-transformers model's int8/fp32, or the ONNX export's own label (OnnxEncoder.precision)."""
    model = Path(model_name).resolve() if Path(model_name).exists() else model_name
    label = precision if isinstance(precision, str) else ("int8" if precision else "fp32")
    raw = f"{model}|{passage_prefix}|{label}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]


def expected_key(model_name: str) -> str:
    """The key an Encoder for this model will have, without loading the model (cheap)."""
    if is_onnx_model(model_name):
        return OnnxEncoder.key_for(model_name)
    return encoder_key(model_name, resolve_prompts(model_name, _saved_prompts(model_name))[1], int8_enabled())


def is_onnx_model(model_name: str) -> bool:
    """A folder written by knowledge/embedding/export_onnx.py (model.onnx + e5.json)."""
    path = Path(model_name) if model_name else None
    return bool(path) and (path / "model.onnx").is_file() and (path / ONNX_INFO).is_file()


def int8_enabled() -> bool:
    return os.environ.get("EMBEDDING_INT8", "1").strip().lower() not in ("0", "false", "no", "off")


def _quantize_int8(model) -> bool:
    """Dynamic int8 quantisation of every nn.Linear, in place; False if this torch cannot."""
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        return True
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class Encoder:
    """Embeds queries and passages into L2-normalised float32 vectors."""

    def __init__(self, model_name: str, int8: bool | None = None):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        self.model_name = model_name
        self.model = SentenceTransformer(model_name, device="cpu")
        self.int8 = _quantize_int8(self.model) if (int8_enabled() if int8 is None else int8) else False
        self.model.eval()
        self.query_prefix, self.passage_prefix = resolve_prompts(model_name, getattr(self.model, "prompts", None) or {})
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())
        self._lock = threading.Lock()  # torch modules are not re-entrant across threads

    @property
    def key(self) -> str:
        """Identifies the vector space: model, passage prompt, precision (the vector cache key)."""
        return encoder_key(self.model_name, self.passage_prefix, self.int8)

    def _encode(self, texts: list[str], batch_size: int = 32, threads: int | None = None) -> np.ndarray:
        import torch

        with self._lock, _torch_threads(torch, threads), torch.inference_mode():
            vectors = self.model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self.passage_prefix + t for t in texts])

    def queries(self, texts: list[str]) -> np.ndarray:
        """Many query vectors at once (evaluation sets); the same space as query()."""
        return self._encode([self.query_prefix + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        """One query vector. Runs the model's modules directly: encode() re-walks every module
        on each call (eval(), device lookup), ~3 ms of a ~20 ms query. Single-threaded: one short
        sequence gains little from intra-op threads and loses a lot when the cores are busy."""
        import torch

        preprocess = getattr(self.model, "preprocess", None)
        if preprocess is None:  # older sentence-transformers
            return self._encode([self.query_prefix + text], batch_size=1, threads=QUERY_THREADS)[0]
        with self._lock, _torch_threads(torch, QUERY_THREADS), torch.inference_mode():
            features = preprocess([self.query_prefix + text])
            vector = self.model(features)["sentence_embedding"][0]
            vector = torch.nn.functional.normalize(vector.float(), dim=-1)
        return vector.numpy().astype(np.float32, copy=False)


class OnnxEncoder:
    """The exported e5 (int8 ONNX) run by onnxruntime through nlu's E5Encoder: the same vectors
    Rasa's E5Featurizer computes, and no torch in the process (about 0.4 GB less per process).
    Thread-safe without a lock: an onnxruntime session may be run from several threads. The tokenizer and
    the session are shared with the ticket classifier's encoder in the same process (nlu/components/e5_onnx.py)."""

    def __init__(self, model_name: str):
        from nlu.components.e5_onnx import E5Encoder

        self.model_name = model_name
        self._queries = E5Encoder(Path(model_name), threads=QUERY_THREADS, prefix="")   # the export's window
        self._passages = E5Encoder(Path(model_name), threads=QUERY_THREADS, prefix="",
                                   max_length=PASSAGE_MAX_TOKENS)           # same tokenizer and session
        info = self._queries.info
        self.query_prefix = info.get("query_prefix", "query: ")
        self.passage_prefix = info.get("passage_prefix", "passage: ")
        self.int8 = bool(info.get("int8"))
        self.dim = self._queries.dim
        self.key = self.key_for(model_name, info)

    @staticmethod
    def precision(info: dict) -> str:
        return f"onnx-{'int8' if info.get('int8') else 'fp32'}-{info.get('model_sha256', '')[:12]}"

    @classmethod
    def key_for(cls, model_name: str, info: dict | None = None) -> str:
        """The vector space of this export (readable without loading the model)."""
        if info is None:
            info = json.loads((Path(model_name) / ONNX_INFO).read_text(encoding="utf-8"))
        return encoder_key(model_name, info.get("passage_prefix", "passage: "), cls.precision(info))

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._passages.encode([self.passage_prefix + t for t in texts])

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._queries.encode([self.query_prefix + t for t in texts])

    def query(self, text: str) -> np.ndarray:
        return self._queries.encode([self.query_prefix + text], batch_size=1)[0]


_encoders: dict[str, Encoder | OnnxEncoder] = {}
_encoders_lock = threading.Lock()


def get_encoder(model_name: str) -> Encoder | OnnxEncoder:
    """The process-wide encoder for this model (loaded on first use)."""
    with _encoders_lock:
        encoder = _encoders.get(model_name)
        if encoder is None:
            encoder = OnnxEncoder(model_name) if is_onnx_model(model_name) else Encoder(model_name)
            _encoders[model_name] = encoder
        return encoder


def model_available(model_name: str) -> bool:
    """True when the model can be loaded without a network: a local folder, or already cached."""
    if not model_name:
        return False
    path = Path(model_name)
    if is_onnx_model(model_name):
        return True
    if path.exists():
        return (path / "modules.json").exists() or (path / "config.json").exists()
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(model_name, "config.json"), str)
    except Exception:  # noqa: BLE001 - any failure means "not available offline"
        return False
