"""The exported multilingual-e5-small encoder run with onnxruntime: texts -> L2-normalised sentence vectors.

Pure Python + numpy + onnxruntime + tokenizers (no Rasa, no torch), so the E5Featurizer, the NLU
benchmark and the tests share it. The folder is written by knowledge/embedding/export_onnx.py:
model.onnx, tokenizer.json and e5.json (dimension, query prefix, maximum length, pad id, sha256s).
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a path only: nothing above nlu/ is imported


def resolve_model_dir(model_path: str) -> Path:
    """`model_path` as given, or relative to the working directory, else to the project root."""
    path = Path(model_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path


_SHARED: Dict[Tuple[str, str], Any] = {}
_SHARED_LOCK = threading.Lock()


def _shared(kind: str, path: Path, make: Callable[[], Any]) -> Any:
    """One tokenizer per model folder and one session per (folder, threads) in a process: e5's tokenizer alone
    holds ~280 MB (250k pieces) and the int8 session ~135 MB, and several parts of one process use e5 (the
    retriever, the ticket classifier; Rasa's featurizer)."""
    key = (kind, str(path.resolve()))
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = make()
        return _SHARED[key]


class E5Encoder:
    """Tokenizer + ONNX session: texts -> L2-normalised float32 sentence vectors. The export's pruned tokenizer
    is used when it has one (knowledge/embedding/prune_tokenizer.py; `self.tokenizer` then gives the same
    pieces and offsets, with other ids: only offsets may be read from it). Texts longer than
    `max_length` tokens are cut (the first max_length - 1 tokens and the closing one, as the tokenizers
    library's own truncation does). The tokenizer (`self.tokenizer`, no truncation) and the session are
    shared with every other E5Encoder of the same folder in the process; an onnxruntime session may be run
    from several threads."""

    def __init__(self, model_dir: Path, threads: int = 1, max_length: Optional[int] = None,
                 prefix: Optional[str] = None) -> None:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        info_path = model_dir / "e5.json"
        if not (model_dir / "model.onnx").is_file() or not info_path.is_file():
            raise FileNotFoundError(
                f"no exported e5 encoder in '{model_dir}' (model.onnx, e5.json); build it with "
                f"`make e5-onnx` (python -m knowledge.embedding.export_onnx)")
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.prefix = self.info.get("query_prefix", "") if prefix is None else prefix
        self.dim = int(self.info["dimension"])
        self.max_length = int(max_length or self.info.get("max_length", 512))
        pruned = self.info.get("pruned_tokenizer")
        if pruned and (model_dir / pruned).is_file() and (model_dir / self.info["pruned_token_ids"]).is_file():
            # the export's smaller tokenizer (same tokens for the scripts callers type) and its ids in the model
            self.tokenizer = _shared("tokenizer", model_dir / pruned, lambda: Tokenizer.from_file(str(model_dir / pruned)))
            self.token_ids = _shared("token_ids", model_dir / self.info["pruned_token_ids"],
                                     lambda: np.load(model_dir / self.info["pruned_token_ids"]))
        else:
            self.tokenizer = _shared("tokenizer", model_dir / "tokenizer.json",
                                     lambda: Tokenizer.from_file(str(model_dir / "tokenizer.json")))
            self.token_ids = None
        self.pad_id = int(self.info.get("pad_id", 1))

        def session() -> Any:
            options = ort.SessionOptions()
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.enable_cpu_mem_arena = False  # a batch of long passages would keep ~1 GB in the arena for ever
            return ort.InferenceSession(str(model_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])

        self.session = _shared(f"session/{int(threads)}", model_dir / "model.onnx", session)
        self.output = self.info.get("output", "sentence_embedding")

    def _ids(self, texts: List[str]) -> List[List[int]]:
        """The model's token ids of each text (prefix added), cut to max_length."""
        limit, out = self.max_length, []
        for encoding in self.tokenizer.encode_batch([self.prefix + t for t in texts]):
            ids = encoding.ids if len(encoding.ids) <= limit else encoding.ids[:limit - 1] + encoding.ids[-1:]
            out.append(ids if self.token_ids is None else self.token_ids[ids].tolist())
        return out

    def encode(self, texts: List[str], batch_size: int = 32) -> np.ndarray:
        """One vector per text (the query prefix is added here); batches group texts of similar length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._ids(texts)
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i]))
        step = max(1, int(batch_size))
        for start in range(0, len(order), step):
            rows = order[start:start + step]
            width = max(len(encodings[i]) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                row = encodings[i]
                ids[r, :len(row)] = row
                mask[r, :len(row)] = 1
            vectors[rows] = self.session.run([self.output], {"input_ids": ids, "attention_mask": mask})[0]
        return vectors
