"""The exported multilingual-e5-small encoder run with onnxruntime: texts -> L2-normalised sentence vectors.

Pure Python + numpy + onnxruntime + tokenizers (no Rasa, no torch), so the E5Featurizer, the NLU
benchmark and the tests share it. The folder is written by knowledge/embedding/export_onnx.py:
model.onnx, tokenizer.json and e5.json (dimension, query prefix, maximum length, pad id, sha256s).
"""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import List, Optional

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a path only: nothing above nlu/ is imported


def resolve_model_dir(model_path: str) -> Path:
    """`model_path` as given, or relative to the working directory, else to the project root."""
    path = Path(model_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path


class E5Encoder:
    """Tokenizer + ONNX session: texts -> L2-normalised float32 sentence vectors."""

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
        self.model_dir = model_dir
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(max_length or self.info.get("max_length", 512)))
        self.pad_id = int(self.info.get("pad_id", 1))
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model_dir / "model.onnx"), options,
                                            providers=["CPUExecutionProvider"])
        self.output = self.info.get("output", "sentence_embedding")

    def with_max_length(self, max_length: int) -> "E5Encoder":
        """The same session (no second copy of the model) with another token window, e.g. for long passages."""
        from tokenizers import Tokenizer

        other = copy.copy(self)
        other.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        other.tokenizer.enable_truncation(int(max_length))
        return other

    def encode(self, texts: List[str], batch_size: int = 32) -> np.ndarray:
        """One vector per text (the query prefix is added here); batches group texts of similar length."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([self.prefix + text for text in texts])
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        step = max(1, int(batch_size))
        for start in range(0, len(order), step):
            rows = order[start:start + step]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                row = encodings[i].ids
                ids[r, :len(row)] = row
                mask[r, :len(row)] = 1
            vectors[rows] = self.session.run([self.output], {"input_ids": ids, "attention_mask": mask})[0]
        return vectors
