"""Text normalisation shared by the NLU pipeline, the gateway and knowledge retrieval.

Traditional characters become Simplified, full-width ASCII becomes half-width, and
whitespace and repeated punctuation are tidied, so that 繁體 input, IME full-width
digits and sloppy typing all reach the models in one canonical form.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPACES = re.compile(r"\s+")
_REPEATED_PUNCT = re.compile(r"([。，！？!?,.~～…])\1+")
# Spaces only matter between two Latin letters/digits; between CJK characters they are noise.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff\uff00-\uffef，。！？、]) (?=\S)|(?<=\S) (?=[\u3400-\u9fff，。！？、])")
# the invisible zero-width characters (U+200B-U+200D, word joiner, BOM) that would split "新\u200b生儿" into two
# words for the tokenizer; the gateway removes them too, before its own checks (strip_invisible)
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH = dict.fromkeys(map(ord, ZERO_WIDTH))
_CONTROL = dict.fromkeys(c for c in range(32) if c not in (9, 10, 13)) | _ZERO_WIDTH


@lru_cache(maxsize=1)
def _converter():
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, same API in both venvs

    return OpenCC("t2s")


def strip_invisible(text: str) -> str:
    """Text without its zero-width characters (ZERO_WIDTH)."""
    return text.translate(_ZERO_WIDTH)


def to_half_width(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if code == 0x3000:
            out.append(" ")
        elif 0xFF01 <= code <= 0xFF5E and ch not in "，。！？：；（）":
            out.append(chr(code - 0xFEE0))
        else:
            out.append(ch)
    return "".join(out)


def to_simplified(text: str) -> str:
    return _converter().convert(text)


def normalize(text: str) -> str:
    """Canonical form of user text; idempotent."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_CONTROL)
    text = to_half_width(text)
    text = to_simplified(text)
    text = _SPACES.sub(" ", text).strip()
    text = _CJK_GAP.sub("", text)
    text = _REPEATED_PUNCT.sub(r"\1", text)
    return text
