"""e5's pruned tokenizer (knowledge/embedding/prune_tokenizer.py) cuts every text the hotline sees into exactly
the pieces of the full one: guides, NLU examples, evaluation questions, 3,000+ real appeals, Mongolian in both
scripts, emoji. Only scripts nobody types here (Thai, Arabic, ...) differ."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from knowledge.embedding import prune_tokenizer as P
from tests.shared_data import shared_data

ROOT = Path(__file__).resolve().parents[2]
ONNX_DIR = ROOT / "build" / "models" / "e5-onnx"

pytestmark = pytest.mark.skipif(not (ONNX_DIR / P.PRUNED_NAME).is_file(), reason="built by make e5-onnx")

CALLER_TEXTS = [
    "我叫巴特尔·那顺，电话１３８ １２３４ ５６７８，身份证号15262719700815452X",
    "Сайн байна уу, би иргэний үнэмлэхээ солих гэсэн юм",      # Mongolian, Cyrillic script
    "ᠮᠣᠩᠭᠣᠯ ᠬᠡᠯᠡ",                                              # Mongolian script
    "谢谢👍😊 办好了✓ ①②③ café ❤️ ☎️ ✔️ 1️⃣ ⭐",
    "押金50€，₮10000，ㄅㄆㄇ ˇˊ",
    "社保卡丢了怎么补办？？？　　我在呼和浩特市新城区",
]


def appeals(limit: int = 4000) -> list[str]:
    path = shared_data() / "tickets_train_raw.tsv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with path.open(encoding="utf-8", newline="") as handle:
        return [row["text"] for _, row in zip(range(limit), csv.DictReader(handle, delimiter="\t"))]


def test_every_text_the_hotline_embeds_gets_the_same_tokens():
    texts = P.corpus(ROOT) + appeals() + CALLER_TEXTS
    assert len(texts) > 10000
    assert P.verify(ONNX_DIR, texts) == len(texts)


def test_other_scripts_become_unknown_and_the_check_would_say_so():
    with pytest.raises(ValueError, match="differs"):
        P.verify(ONNX_DIR, ["ภาษาไทย"])


def test_the_pruned_tokenizer_is_much_smaller_and_keeps_the_special_ids():
    full = json.loads((ONNX_DIR / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    ids = np.load(ONNX_DIR / P.IDS_NAME)
    assert len(ids) < 0.7 * len(full)
    assert ids[:4].tolist() == [0, 1, 2, 3] and (np.diff(ids) > 0).all()
    info = json.loads((ONNX_DIR / "e5.json").read_text(encoding="utf-8"))
    assert info["pruned_tokenizer"] == P.PRUNED_NAME and info["pruned_pieces"] == len(ids)
