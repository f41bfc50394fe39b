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

import logging
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

from nlu.components.e5_onnx import E5Encoder, resolve_model_dir

logger = logging.getLogger(__name__)


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
        self.model_dir = resolve_model_dir(self._config["model_path"])
        try:
            self.encoder = E5Encoder(self.model_dir, threads=self._config["threads"],
                                     max_length=self._config["max_length"], prefix=self._config["prefix"])
        except FileNotFoundError as exc:
            raise InvalidConfigException(f"E5Featurizer: {exc}") from exc
        logger.debug("E5Featurizer: %s (sha256 %s)", self.model_dir, self.encoder.info.get("model_sha256"))

    @classmethod
    def fingerprint_addon(cls, config: Dict[Text, Any]) -> Optional[Text]:
        """The exported encoder lives outside the graph: its record (with the model's sha256) goes into
        Rasa's cache key, so a re-exported model is not mistaken for features cached from the old one."""
        record = resolve_model_dir(config.get("model_path") or cls.get_default_config()["model_path"]) / "e5.json"
        try:
            return record.read_text(encoding="utf-8")
        except OSError:
            return None

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
