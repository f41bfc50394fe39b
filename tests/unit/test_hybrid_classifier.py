"""HybridIntentClassifier (nlu/components/hybrid_classifier.py) in the Rasa environment, on made-up features.

Runs a script in .venv/rasa (Rasa 3.6 needs Python 3.10); skips when that environment is missing.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"

SCRIPT = textwrap.dedent("""
    import json, sys, tempfile
    from pathlib import Path
    from unittest.mock import MagicMock
    import numpy as np
    import scipy.sparse
    sys.path.insert(0, sys.argv[1])
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.nlu.constants import TEXT, INTENT
    from rasa.shared.nlu.training_data.features import Features
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from nlu.components.hybrid_classifier import HybridIntentClassifier

    rng = np.random.default_rng(0)
    centres = {"greet": rng.normal(size=8), "goodbye": rng.normal(size=8), "ask_fee": rng.normal(size=8)}

    def message(intent, text, noise=0.3, word=None):
        m = Message(data={TEXT: text, INTENT: intent})
        dense = centres[intent] + rng.normal(scale=noise, size=8)
        m.add_features(Features((dense / np.linalg.norm(dense))[None, :], "sentence", TEXT, "e5"))
        counts = np.zeros((1, 5)); counts[0, word if word is not None else list(centres).index(intent)] = 2
        m.add_features(Features(scipy.sparse.coo_matrix(counts), "sentence", TEXT, "cv"))
        return m

    train = [message(i, f"{i}{k}") for i in centres for k in range(15)]
    context = MagicMock(); context.node_name = "clf"
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalModelStorage(Path(tmp))
        resource = Resource("clf")
        clf = HybridIntentClassifier.create({"C": 10, "dense_weight": 3}, storage, resource, context)
        clf.train(TrainingData(train))
        test = [message(i, "x", word=4) for i in centres for _ in range(5)]  # sparse block uninformative
        before = [m.get(INTENT)["name"] for m in clf.process(test)]
        loaded = HybridIntentClassifier.load({"C": 10, "dense_weight": 3}, storage, resource, context)
        again = [message(i, "x", word=4) for i in centres for _ in range(5)]
        after = loaded.process(again)
        empty = loaded.process([Message(data={TEXT: ""})])[0].get(INTENT)
        gold = [i for i in centres for _ in range(5)]
        print(json.dumps({
            "accuracy": sum(p == g for p, g in zip(before, gold)) / len(gold),
            "same_after_load": before == [m.get(INTENT)["name"] for m in after],
            "ranking_sums": sum(r["confidence"] for r in after[0].get("intent_ranking")),
            "ranking_sorted": [r["confidence"] for r in after[0].get("intent_ranking")] ==
                              sorted((r["confidence"] for r in after[0].get("intent_ranking")), reverse=True),
            "empty": empty,
            "files": sorted(p.name for p in (Path(tmp) / "clf").iterdir()),
        }))
""")


def test_trains_predicts_and_round_trips_through_model_storage():
    if not RASA_PY.exists():
        pytest.skip("Rasa environment .venv/rasa not installed")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(RASA_PY), "-c", SCRIPT, str(ROOT)], capture_output=True, text=True, timeout=240,
                            env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["accuracy"] >= 0.9          # the dense block alone carries the intent here
    assert out["same_after_load"]          # plain numpy weights, no pickle
    assert abs(out["ranking_sums"] - 1.0) < 1e-6 and out["ranking_sorted"]
    assert out["empty"] is None            # no text, no intent
    assert out["files"] == ["hybrid_lr.npz"]
