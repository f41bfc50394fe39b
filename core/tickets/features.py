"""Text features of the ticket classifier, shared by training (scripts/train_tickets.py) and inference.

An appeal is "title body" (the title is the first sentence-like chunk, often without a separator).
Lexical features are character n-grams of the text reduced to its Chinese characters (so the
jieba-segmented training rows, whose stop words and Latin letters were removed, and raw callers' words
look alike), once for the whole text and once, separately weighted, for its head (the title).
The sparse TF-IDF vector is computed here with numpy and plain dicts from a stored vocabulary and
idf table, so serving needs no scikit-learn.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

HEAD_CHARS = 24          # the head (title) of an appeal: up to the first space or this many characters
HEAD_SEARCH = 40         # a space after this many characters is not taken for the end of the title
MAX_CHARS = 1500         # longer appeals are cut (the end of a very long letter adds little)
NGRAMS = (1, 2, 3)

_NOT_HAN = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff]+")
_SPACES = re.compile(r"\s+")


def han_only(text: str) -> str:
    """The Chinese characters of a text, in order (everything else dropped)."""
    return _NOT_HAN.sub("", text or "")


def han_bigrams(text: str) -> set[str]:
    """Pairs of adjacent Chinese characters of a text (the character itself when it has only one): the lexical
    overlap of an appeal with the category names that level 2 and 3 are chosen by (training and inference)."""
    han = han_only(text)
    return {han[i:i + 2] for i in range(len(han) - 1)} | (set(han) if len(han) == 1 else set())


def split_head(text: str) -> tuple[str, str]:
    """(head, full text as `clean` makes it): the title if a space ends it early, else the first HEAD_CHARS
    characters."""
    text = clean(text)
    space = text.find(" ")
    if 0 < space <= HEAD_SEARCH:
        return text[:space], text
    return text[:HEAD_CHARS], text


def char_ngrams(han: str, prefix: str = "") -> list[str]:
    """Character n-grams (NGRAMS) of a string of Chinese characters, each tagged with `prefix`."""
    grams = []
    size = len(han)
    for n in NGRAMS:
        grams.extend(prefix + han[i:i + n] for i in range(size - n + 1))
    return grams


def analyze(text: str) -> list[str]:
    """All lexical features of an appeal: n-grams of the whole text and, tagged 'h:', of its head."""
    head, full = split_head(text)
    return char_ngrams(han_only(full)) + char_ngrams(han_only(head), prefix="h:")


class SparseTfidf:
    """TF-IDF with sublinear tf and L2 norm over a fixed vocabulary; head features scaled by head_weight."""

    def __init__(self, vocabulary: list[str], idf: np.ndarray, head_weight: float):
        self.index = {term: i for i, term in enumerate(vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float32)
        self.head_weight = float(head_weight)
        self.dim = len(vocabulary)

    def transform_one(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(column indices, values) of one L2-normalised row."""
        counts = Counter(term for term in analyze(text) if term in self.index)
        if not counts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        cols = np.fromiter((self.index[t] for t in counts), dtype=np.int64, count=len(counts))
        tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))
        weights = np.fromiter((self.head_weight if t.startswith("h:") else 1.0 for t in counts),
                              dtype=np.float32, count=len(counts))
        values = tf * self.idf[cols] * weights
        norm = float(np.linalg.norm(values))
        return cols, (values / norm if norm > 0 else values).astype(np.float32)


E5_WINDOW_TOKENS = 128   # one e5 window (the ONNX export's maximum length)
E5_SECOND_START = 120    # tokens of text in the first e5 window (128 minus <s>, </s> and the "query: " prefix)
E5_SECOND_SIZE = 120


def clean(text: str) -> str:
    """The appeal as the encoder sees it: spaces collapsed, cut to MAX_CHARS."""
    return _SPACES.sub(" ", (text or "").strip())[:MAX_CHARS]


def token_offsets(text: str, tokenizer) -> list[tuple[int, int]]:
    """Character offsets of every token of `text`, also when `tokenizer` truncates (the encoder's own does):
    the tokens cut off come back as its overflowing pieces, in order (E5Encoder truncates with stride 0)."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    offsets = list(encoding.offsets)
    for piece in encoding.overflowing:
        offsets.extend(piece.offsets)
    return offsets


def second_chunk(text: str, tokenizer) -> str:
    """The text of e5 tokens E5_SECOND_START.. (the part of a long appeal the first 128-token window
    misses), or "" for a short one. `tokenizer` is a `tokenizers.Tokenizer` (the E5Encoder's)."""
    text = clean(text)
    offsets = token_offsets(text, tokenizer)
    if len(offsets) <= E5_SECOND_START + 8:
        return ""
    end = min(len(offsets), E5_SECOND_START + E5_SECOND_SIZE) - 1
    return text[offsets[E5_SECOND_START][0]:offsets[end][1]]


def pool_windows(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """One vector for an appeal read in two e5 windows: their mean, L2-normalised (rows of equal count)."""
    merged = first + second
    return merged / np.maximum(np.linalg.norm(merged, axis=-1, keepdims=True), 1e-9)
