"""Rasa pipeline component: dense sentence features from the multilingual-e5-small encoder (ONNX).

The encoder is exported at build time by knowledge/embedding/export_onnx.py (app environment, torch);
here it runs with onnxruntime and the `tokenizers` library only, so the Rasa environment needs no
torch. The folder named by `model_path` holds model.onnx, tokenizer.json and e5.json (query prefix,
maximum length, pad id). The graph returns the mean-pooled, L2-normalised 384-d sentence vector, the
same vector the knowledge search computes for a query; it becomes the TEXT sentence feature of every
message. The component sits after ChineseNormalizer, so it embeds the normalised text.

Cost: one forward pass per message (single-threaded; about 5 ms for a short message with int8
weights on the 2-core reference machine, see docs/BENCHMARKS.md). Training data is embedded in
batches of texts of similar length.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # a path only: nothing above nlu/ is imported


def resolve_model_dir(model_path: Text) -> Path:
    """`model_path` as given, or relative to the working directory, else to the project root."""
    path = Path(model_path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return PROJECT_ROOT / path


class E5Encoder:
    """Tokenizer + ONNX session: texts -> L2-normalised float32 sentence vectors."""

    def __init__(self, model_dir: Path, threads: int = 1, max_length: Optional[int] = None,
                 prefix: Optional[Text] = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        info_path = model_dir / "e5.json"
        if not (model_dir / "model.onnx").is_file() or not info_path.is_file():
            raise InvalidConfigException(
                f"E5Featurizer: no exported encoder in '{model_dir}' (model.onnx, e5.json); "
                f"build it with `make e5-onnx` (python -m knowledge.embedding.export_onnx)")
        self.info = json.loads(info_path.read_text(encoding="utf-8"))
        self.prefix = self.info.get("query_prefix", "") if prefix is None else prefix
        self.dim = int(self.info["dimension"])
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

    def encode(self, texts: List[Text], batch_size: int = 32) -> np.ndarray:
        """One vector per text; batches group texts of similar length to keep padding small."""
        encodings = self.tokenizer.encode_batch([self.prefix + text for text in texts])
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), max(1, batch_size)):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                row = encodings[i].ids
                ids[r, :len(row)] = row
                mask[r, :len(row)] = 1
            out = self.session.run([self.output], {"input_ids": ids, "attention_mask": mask})[0]
            vectors[rows] = out
        return vectors


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class E5Featurizer(DenseFeaturizer, GraphComponent):
    """Adds the e5 sentence vector as a dense sentence feature of the TEXT attribute."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            "model_path": "build/models/e5-onnx",  # folder written by knowledge/embedding/export_onnx.py
            "batch_size": 32,                      # training-time batches
            "threads": 1,                          # onnxruntime intra-op threads (the server shares 2 cores)
            "max_length": None,                    # tokens; None = the exported default (e5.json)
            "prefix": None,                        # None = e5.json's query prefix ("query: ")
        }

    @staticmethod
    def required_packages() -> List[Text]:
        return ["onnxruntime", "tokenizers"]

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        if not config.get("model_path"):
            raise InvalidConfigException("E5Featurizer needs `model_path` (the exported ONNX folder)")
        if int(config.get("batch_size") or 0) < 1 or int(config.get("threads") or 0) < 1:
            raise InvalidConfigException("E5Featurizer: batch_size and threads must be >= 1")

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.model_dir = resolve_model_dir(self._config["model_path"])
        self.encoder = E5Encoder(self.model_dir, threads=self._config["threads"],
                                 max_length=self._config["max_length"], prefix=self._config["prefix"])
        logger.debug("E5Featurizer: %s (sha256 %s)", self.model_dir, self.encoder.info.get("model_sha256"))

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "E5Featurizer":
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    def _featurize(self, messages: List[Message], batch_size: int) -> None:
        messages = [m for m in messages if isinstance(m.get(TEXT), str) and m.get(TEXT)]
        if not messages:
            return
        vectors = self.encoder.encode([m.get(TEXT) for m in messages], batch_size=batch_size)
        for message, vector in zip(messages, vectors):
            self.add_features_to_message(None, vector[np.newaxis, :], TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self._featurize(training_data.training_examples, self._config["batch_size"])
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        self._featurize(messages, self._config["batch_size"])
        return messages
