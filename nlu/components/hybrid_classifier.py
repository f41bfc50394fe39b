"""Rasa pipeline component: logistic regression over sparse (word/char counts) and dense (e5) sentence features.

Rasa's own LogisticRegressionClassifier also concatenates sparse and dense sentence features, but it
fixes C = 1 and feeds raw counts next to a unit-length embedding, so the embedding's 384 small values
barely move the model. Here each block is brought to unit length first (`sparse_norm`, the dense
vectors are already L2-normalised), the dense block is weighted (`dense_weight`) and C is configurable.
Multinomial logistic regression gives probabilities that the FallbackClassifier threshold is applied to.

The trained model is stored as plain numpy arrays (classes, weights, intercepts): nothing is unpickled
when a model is loaded. Trains in seconds on ~1,000 examples.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text, Type

import numpy as np
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)
WEIGHTS_FILE = "hybrid_lr.npz"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class HybridIntentClassifier(IntentClassifier, GraphComponent):
    """Multinomial logistic regression over [normalised sparse sentence features | weighted dense ones]."""

    @classmethod
    def required_components(cls) -> List[Type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> List[Text]:
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            "C": 30.0,               # inverse regularisation strength (measured: docs/BENCHMARKS.md)
            "dense_weight": 3.0,     # scale of the (unit-length) dense block relative to the sparse block
            "sparse_norm": "l2",     # "l2": sparse row scaled to unit length; "none": raw counts
            "use_sparse": True,
            "use_dense": True,
            "max_iter": 1000,
            "class_weight": "balanced",
            "ranking_length": 10,
        }

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 classes: Optional[np.ndarray] = None, coef: Optional[np.ndarray] = None,
                 intercept: Optional[np.ndarray] = None) -> None:
        self.config = {**self.get_default_config(), **config}
        if self.config["sparse_norm"] not in ("l2", "none"):
            raise InvalidConfigException("HybridIntentClassifier: sparse_norm must be 'l2' or 'none'")
        if not (self.config["use_sparse"] or self.config["use_dense"]):
            raise InvalidConfigException("HybridIntentClassifier: use_sparse and use_dense cannot both be off")
        self._model_storage = model_storage
        self._resource = resource
        self.classes = classes
        self.coef = coef
        self.intercept = intercept

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "HybridIntentClassifier":
        return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ features

    def _dense(self, messages: List[Message]) -> Optional[np.ndarray]:
        rows = []
        for message in messages:
            sentence = message.get_dense_features(TEXT)[1]
            rows.append(None if sentence is None else np.asarray(sentence.features, dtype=np.float64).reshape(1, -1))
        width = max((r.shape[1] for r in rows if r is not None), default=0)
        if not width:
            return None
        return np.vstack([r if r is not None else np.zeros((1, width)) for r in rows])

    def _features(self, messages: List[Message]) -> scipy.sparse.csr_matrix:
        blocks = []
        if self.config["use_sparse"]:
            rows = []
            for message in messages:
                sentence = message.get_sparse_features(TEXT)[1]
                rows.append(scipy.sparse.csr_matrix(sentence.features) if sentence is not None else None)
            width = max((r.shape[1] for r in rows if r is not None), default=0)
            rows = [r if r is not None else scipy.sparse.csr_matrix((1, width)) for r in rows]
            sparse = scipy.sparse.vstack(rows).tocsr().astype(np.float64) if width else None
            if sparse is not None and self.config["sparse_norm"] == "l2":
                norms = np.sqrt(np.asarray(sparse.multiply(sparse).sum(axis=1)).ravel())
                norms[norms == 0] = 1.0
                sparse = scipy.sparse.diags(1.0 / norms) @ sparse
            if sparse is not None:
                blocks.append(sparse)
        dense = self._dense(messages) if self.config["use_dense"] else None
        if dense is not None:
            blocks.append(scipy.sparse.csr_matrix(dense * float(self.config["dense_weight"])))
        if not blocks:
            raise InvalidConfigException("HybridIntentClassifier found no sentence features for TEXT; "
                                         "put a featurizer before it")
        return scipy.sparse.hstack(blocks).tocsr()

    # ------------------------------------------------------------------ training

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        labels = sorted({e.get(INTENT) for e in examples})
        if len(labels) < 2:
            logger.debug("HybridIntentClassifier: fewer than two intents, nothing to train")
            return self._resource
        X = self._features(examples)
        y = [e.get(INTENT) for e in examples]
        model = LogisticRegression(C=float(self.config["C"]), max_iter=int(self.config["max_iter"]),
                                   class_weight=self.config["class_weight"], solver="lbfgs",
                                   multi_class="multinomial", random_state=42)
        model.fit(X, y)
        self.classes = np.asarray(model.classes_)
        self.coef = model.coef_.astype(np.float32)
        self.intercept = model.intercept_.astype(np.float32)
        self.persist()
        return self._resource

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / WEIGHTS_FILE, classes=self.classes.astype(str), coef=self.coef,
                     intercept=self.intercept)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "HybridIntentClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                with np.load(directory / WEIGHTS_FILE, allow_pickle=False) as data:
                    return cls(config, model_storage, resource, data["classes"], data["coef"], data["intercept"])
        except (ValueError, OSError):
            logger.debug("HybridIntentClassifier: no trained weights in %s, predicting nothing", resource.name)
            return cls(config, model_storage, resource)

    # ------------------------------------------------------------------ prediction

    def predict_proba(self, messages: List[Message]) -> np.ndarray:
        X = self._features(messages)
        if X.shape[1] != self.coef.shape[1]:
            raise ValueError(f"HybridIntentClassifier: {X.shape[1]} features, trained on {self.coef.shape[1]}")
        scores = np.asarray(X @ self.coef.T) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        return probs / probs.sum(axis=1, keepdims=True)

    def process(self, messages: List[Message]) -> List[Message]:
        usable = [m for m in messages if m.get(TEXT)]  # an empty text has no features: no intent
        if self.coef is None or not usable:
            return messages
        probs = self.predict_proba(usable)
        length = int(self.config["ranking_length"])
        for message, row in zip(usable, probs):
            order = np.argsort(-row)
            ranking = [{"name": str(self.classes[i]), "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[:length] if length > 0 else ranking, add_to_output=True)
        return messages
