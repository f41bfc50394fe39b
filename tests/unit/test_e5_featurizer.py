"""The e5 encoder exported to ONNX, run where Rasa runs it (.venv/rasa: Python 3.10, numpy 1.23, onnxruntime).

The vectors are computed in a subprocess of the Rasa environment and compared here (app environment)
with the torch encoder the knowledge search uses. Skips when the environment or the exported model
(`make e5-onnx`) is not there.
"""
from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
ONNX_DIR = ROOT / "build" / "models" / "e5-onnx"
E5_DIR = ROOT / "build" / "models" / "multilingual-e5-small"
RASA_PY = ROOT / ".venv" / "rasa" / "bin" / "python"

SENTENCES = [
    "社保卡丢了怎么补办",      # 0
    "医保卡丢失了去哪里补领",  # 1  similar to 0
    "明天会不会下雨",          # 2  unrelated
    "我要转人工客服",          # 3
    "帮我接一下人工",          # 4  similar to 3
    "孩子刚出生要办哪些证",    # 5  unrelated to 3
]

ENCODE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from nlu.components.e5_onnx import E5Encoder
    encoder = E5Encoder(sys.argv[2], threads=1)
    texts = json.loads(sys.argv[3])
    print(json.dumps({"batched": encoder.encode(texts).tolist(),
                      "single": [encoder.encode([t], batch_size=1)[0].tolist() for t in texts],
                      "info": encoder.info}))
""")

FEATURIZE = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, sys.argv[1])
    from unittest.mock import MagicMock
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData
    from nlu.components.e5_featurizer import E5Featurizer

    context = MagicMock()
    context.node_name = "e5"
    featurizer = E5Featurizer.create({"model_path": sys.argv[2]}, MagicMock(), MagicMock(), context)
    messages = featurizer.process([Message(data={TEXT: "社保卡丢了怎么补办"}), Message(data={TEXT: ""})])
    sequence, sentence = messages[0].get_dense_features(TEXT)
    empty = messages[1].get_dense_features(TEXT)
    data = featurizer.process_training_data(TrainingData([Message(data={TEXT: t, "intent": "x"}) for t in ["你好", "再见啊"]]))
    print(json.dumps({"sequence": sequence is None, "shape": list(sentence.features.shape),
                      "empty": [f is None for f in empty],
                      "train_shapes": [list(m.get_dense_features(TEXT)[1].features.shape) for m in data.training_examples]}))
""")


def _run_in_rasa(script: str, *args: str, timeout: int = 240) -> dict:
    if not RASA_PY.exists():
        pytest.skip("Rasa environment .venv/rasa not installed")
    if not (ONNX_DIR / "model.onnx").is_file():
        pytest.skip("ONNX encoder not built (make e5-onnx)")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([str(RASA_PY), "-c", script, str(ROOT), str(ONNX_DIR), *args], capture_output=True,
                            text=True, timeout=timeout, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def onnx_vectors() -> dict:
    out = _run_in_rasa(ENCODE, json.dumps(SENTENCES, ensure_ascii=False))
    return {"batched": np.array(out["batched"]), "single": np.array(out["single"]), "info": out["info"]}


def test_vectors_are_unit_length_and_batching_hardly_changes_them(onnx_vectors):
    batched, single = onnx_vectors["batched"], onnx_vectors["single"]
    assert batched.shape == (len(SENTENCES), onnx_vectors["info"]["dimension"])
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-3)
    # padding is masked out of the mean; int8 activations are quantised per batch, hence not bit-identical
    assert ((batched * single).sum(axis=1) > 0.99).all()


def test_similar_sentences_are_closer_than_unrelated_ones(onnx_vectors):
    v = onnx_vectors["batched"]
    assert v[0] @ v[1] > v[0] @ v[2] + 0.03
    assert v[3] @ v[4] > v[3] @ v[5] + 0.03


def test_onnx_matches_the_app_side_encoder(onnx_vectors):
    pytest.importorskip("sentence_transformers")
    if not (E5_DIR / "model.safetensors").is_file():
        pytest.skip("e5 model not built (make index)")
    from knowledge.encoder import Encoder

    encoder = Encoder(str(E5_DIR), int8=False)  # the float model both sides start from
    reference = np.stack([encoder.query(text) for text in SENTENCES])
    cosines = (reference * onnx_vectors["batched"]).sum(axis=1)
    assert cosines.min() > 0.99, cosines


def test_rasa_component_adds_a_sentence_feature():
    out = _run_in_rasa(FEATURIZE)
    assert out["shape"] == [1, 384]
    assert out["sequence"] is True  # sentence features only
    assert out["empty"] == [True, True]  # empty text: no features
    assert out["train_shapes"] == [[1, 384], [1, 384]]


def test_long_texts_are_cut_as_the_tokenizer_would_and_one_process_loads_e5_once():
    """The knowledge search, the ticket classifier and Rasa's featurizer share one tokenizer (~280 MB) and
    one session per process; each encoder still cuts texts at its own window."""
    if not (ONNX_DIR / "model.onnx").is_file():
        pytest.skip("ONNX encoder not built (make e5-onnx)")
    from tokenizers import Tokenizer

    from knowledge.encoder import OnnxEncoder
    from nlu.components.e5_onnx import E5Encoder

    short, long_ = E5Encoder(ONNX_DIR, max_length=128), E5Encoder(ONNX_DIR, max_length=512)
    search = OnnxEncoder(str(ONNX_DIR))
    assert short.tokenizer is long_.tokenizer is search._queries.tokenizer
    assert short.session is long_.session is search._passages.session
    text = "我家楼下的烧烤店每天晚上营业到凌晨两点，油烟和噪音很大，" * 12
    reference = Tokenizer.from_file(str(ONNX_DIR / "tokenizer.json"))
    for encoder, limit in ((short, 128), (long_, 512)):
        reference.enable_truncation(limit)
        assert encoder._ids([text]) == [reference.encode(encoder.prefix + text).ids]
    assert len(short._ids([text])[0]) == 128 < len(long_._ids([text])[0])
    assert float(short.encode([text])[0] @ long_.encode([text])[0]) < 0.999   # the longer window saw more
