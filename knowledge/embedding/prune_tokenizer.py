"""A smaller copy of e5's tokenizer for the scripts the hotline reads: the same tokens, ~180 MB less per process.

multilingual-e5-small's tokenizer is a SentencePiece Unigram model of 250,002 pieces in 100 languages. The
`tokenizers` library holds it in a byte trie of about 290 MB in every process that loads it (Rasa, the
gateway and the action server each do). Most pieces are in scripts a caller here never types (Arabic,
Devanagari, Thai, ...). A piece can only be part of a segmentation when every one of its characters is in the
(normalised) text, so for text in the kept scripts the pruned tokenizer gives exactly the same pieces.

Kept: Latin (with IPA, modifier letters and combining marks), Greek, Cyrillic (Mongolian Cyrillic), Mongolian
script, CJK (ideographs, radicals, punctuation, Bopomofo, compatibility, full-width forms), punctuation,
currency, symbols (①, ✔, ☎), emoji with their variation selectors, the four special tokens, and the piece with the lowest score (it sets the penalty of an
unknown character, so the lattice is scored exactly as before). A character of another script becomes
`<unk>` instead of its own pieces.

The pruned pieces get new, dense ids; `token_ids.npy` maps them back to the model's ids (the rows of its
embedding table): nlu/components/e5_onnx.py looks the ids up before running the model. `verify` tokenises a
corpus with both tokenizers and fails on any difference (export_onnx runs it on every guide and NLU example).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

PRUNED_NAME = "tokenizer.pruned.json"
IDS_NAME = "token_ids.npy"
SPECIAL_IDS = 4   # <s>, <pad>, </s>, <unk>: kept where they are (the post-processor names their ids)
KEPT_RANGES = (
    (0x0000, 0x036F),    # Latin (ASCII, Latin-1, Extended-A/B), IPA, spacing modifiers (ˇ ˊ tone marks), combining marks
    (0x0370, 0x03FF),    # Greek (χ, μ, Ω in real appeals' formulas and units)
    (0x0400, 0x04FF),    # Cyrillic (Mongolian in Cyrillic script)
    (0x1800, 0x18AF),    # Mongolian script
    (0x2000, 0x2BFF),    # punctuation, super/subscripts, currency (€ ₮), keycap mark, letter-like, arrows,
                         # maths, enclosed alphanumerics (①), box drawing, misc symbols, dingbats (✔ ❤ ☎ ⭐)
    (0x2E80, 0x9FFF),    # CJK radicals, punctuation, kana, Bopomofo, ideographs
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFE00, 0xFE0F),    # variation selectors (❤️ = ❤ + U+FE0F)
    (0xFE30, 0xFE4F),    # CJK compatibility forms
    (0xFF00, 0xFFEF),    # full-width and half-width forms
    (0x1F000, 0x1FAFF),  # emoji
    (0x20000, 0x2FA1F),  # CJK extension ideographs
)
SPACE_MARK = "\u2581"    # SentencePiece's word-start mark


def ranges_key() -> str:
    """Identifies what is kept (recorded in e5.json: a change re-exports)."""
    import hashlib

    return hashlib.sha256(repr((KEPT_RANGES, SPACE_MARK, SPECIAL_IDS)).encode()).hexdigest()[:12]


def kept_char(ch: str) -> bool:
    code = ord(ch)
    return ch == SPACE_MARK or any(low <= code <= high for low, high in KEPT_RANGES)


def prune(tokenizer_json: dict) -> tuple[dict, np.ndarray]:
    """(pruned tokenizer.json content, new id -> original id)."""
    model = tokenizer_json["model"]
    if model.get("type") != "Unigram" or model.get("unk_id") != 3 or model.get("byte_fallback"):
        raise ValueError("expected e5's Unigram tokenizer (unk id 3, no byte fallback)")
    vocab = model["vocab"]
    lowest = min(range(SPECIAL_IDS, len(vocab)), key=lambda i: vocab[i][1])
    keep = [i for i, (piece, _score) in enumerate(vocab)
            if i < SPECIAL_IDS or i == lowest or all(kept_char(c) for c in piece)]
    pruned = dict(tokenizer_json)
    pruned["model"] = dict(model, vocab=[vocab[i] for i in keep])
    pruned["added_tokens"] = [t for t in tokenizer_json.get("added_tokens", []) if t["id"] < SPECIAL_IDS]
    pruned["truncation"], pruned["padding"] = None, None
    return pruned, np.asarray(keep, dtype=np.int32)


def write(folder: Path) -> int:
    """Write the pruned tokenizer and the id map next to tokenizer.json; the number of pieces kept."""
    full = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    pruned, ids = prune(full)
    (folder / PRUNED_NAME).write_text(json.dumps(pruned, ensure_ascii=False), encoding="utf-8")
    np.save(folder / IDS_NAME, ids)
    return int(ids.shape[0])


def verify(folder: Path, texts: Iterable[str]) -> int:
    """Tokenise every text with both tokenizers; raise on the first difference in ids or offsets. The number
    of texts checked."""
    from tokenizers import Tokenizer

    full = Tokenizer.from_file(str(folder / "tokenizer.json"))
    small = Tokenizer.from_file(str(folder / PRUNED_NAME))
    ids = np.load(folder / IDS_NAME)
    full.no_truncation()
    count = 0
    for text in texts:
        a, b = full.encode(text), small.encode(text)
        if a.ids != ids[b.ids].tolist() or a.offsets != b.offsets:
            raise ValueError(f"the pruned tokenizer differs on {text[:60]!r}")
        count += 1
    return count


def corpus(root: Path) -> list[str]:
    """What the hotline embeds: every string in the guides and the NLU training data (YAML), line by line."""
    import yaml

    texts: list[str] = []

    def walk(value) -> None:
        if isinstance(value, str):
            texts.extend(line.strip("- ").strip() for line in value.splitlines() if line.strip())
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for folder in ("knowledge/guides", "nlu/data", "knowledge/eval"):
        for path in sorted((root / folder).rglob("*.y*ml")):
            walk(yaml.safe_load(path.read_text(encoding="utf-8")))
    return [t for t in texts if t]
