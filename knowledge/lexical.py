"""Lexical side of the hybrid index: tokenisation and BM25 scoring.

Tokens are, for one text:

* jieba words (search mode, with the knowledge-base vocabulary added so service
  names stay whole), without function words;
* the *fuzzy pinyin* of each such word (申份证 and 身份证 both give ^sen-fen-zen);
* fuzzy pinyin bigrams of adjacent Chinese characters inside the content stretches,
  which catch homophones that jieba segments differently: 退修/退休 (tui_xiu),
  社保咔/社保卡 (bao_ka), 出身/出生 (cu_sen).

Fuzzy pinyin is toneless pinyin with the sound pairs that speech recognition and
dialect speakers confuse merged: zh/z, ch/c, sh/s, n/l, -ng/-n.
"""
from __future__ import annotations

import math
import re
import threading
from collections import Counter
from functools import lru_cache

import jieba
import numpy as np
from pypinyin import Style, lazy_pinyin

from nlu.textnorm import normalize

jieba.setLogLevel(60)  # silence the "Building prefix dict" banner

PINYIN_PREFIX = "~"       # character-pair pinyin tokens
WORD_PINYIN_PREFIX = "^"  # whole-word pinyin tokens
_HAN_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORDISH = re.compile(r"[\u3400-\u9fffA-Za-z0-9]")

# Function words and generic question words: they say nothing about which service is meant.
STOPWORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 嘛 哦 哈 么 和 与 及 或 跟 在 是 有 没 没有 要 想 想要 需要 得 去 来 到 给 把 被 让
    我 我们 你 你们 他 她 它 他们 咱 自己 家里 这个 那个 这 那 哪 啥 什么 怎么 怎么样 怎样 如何 为什么
    哪些 哪里 哪儿 哪个 多少 多久 几天 怎么办 请问 你好 您好 谢谢 麻烦 一下 可以 能 能不能 可不可以 是不是
    应该 还 也 都 就 又 再 才 刚 刚刚 已经 现在 马上 一个 一些 问 问一下 咨询 知道 告诉 帮 帮忙 帮我
    办 办理 怎么弄 弄 搞 手续 流程 带 带什么 准备 材料 要求 咋 咋办 咋弄 啥 办啥 要办 能办 去办 想办
    几个 几天 几趟 多长 多长时间 时间 多久 地方 哪个 什么样 东西 事情 情况 时候 的话 还是 或者 而且 但是
    因为 所以 如果 那么 这么 这样 那样 有没有 能否 是否 需不需要 要不要 用不用 行不行 对不对 好不好
    """.split()
)
# A token made only of these characters is a function word too (我刚, 要办, 怎么).
STOPCHARS = frozenset("我你您他她它们的了吗呢吧啊呀嘛哦哈么和与及或在是有没要想得去来到给把被让这那哪啥咋怎刚还也都就又再才能会该请问谢个些点下几跑趟")

# Sound pairs merged in fuzzy pinyin (applied to toneless syllables).
_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))


@lru_cache(maxsize=4096)
def fuzzy_syllable(syllable: str) -> str:
    s = syllable.lower()
    for retroflex, flat in _INITIALS:
        if s.startswith(retroflex):
            s = flat + s[len(retroflex):]
            break
    if s.startswith("n") and not s.startswith("ng"):
        s = "l" + s[1:]
    if s.endswith("ng") and len(s) > 2:
        s = s[:-1]  # eng/en, ing/in, ang/an (ong -> on is harmless: no "on" syllable exists)
    return s


def is_stopword(token: str) -> bool:
    return token in STOPWORDS or all(ch in STOPCHARS for ch in token)


def content_runs(text: str) -> list[list[str]]:
    """Stretches of Han words left after cutting out function words (jieba's plain cut).

    Pinyin pairs are taken from these only, so question words (我刚, 怎么, 要办) add no
    noise, while a mis-recognised syllable (社保|咔) stays next to its neighbours.
    """
    runs, current = [], []
    for token in jieba.lcut(text):
        if _HAN_RUN.fullmatch(token) and not is_stopword(token):
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


@lru_cache(maxsize=65536)
def syllables(word: str) -> tuple[str, ...]:
    """Fuzzy toneless pinyin of a Han word, one syllable per character (cached: words repeat)."""
    return tuple(fuzzy_syllable(p) for p in lazy_pinyin(word, style=Style.NORMAL, errors="ignore"))


def pinyin_bigrams(text: str) -> list[str]:
    """Fuzzy pinyin of each adjacent pair of Han characters within the content runs."""
    tokens = []
    for run in content_runs(text):
        sylls = [s for word in run for s in syllables(word)]
        tokens.extend(f"{PINYIN_PREFIX}{a}_{b}" for a, b in zip(sylls, sylls[1:]))
    return tokens


_words_lock = threading.Lock()
_words_added: set[str] = set()


def add_vocabulary(words) -> None:
    """Teach jieba the knowledge-base vocabulary (idempotent, process-wide)."""
    with _words_lock:
        for word in words:
            if word and word not in _words_added:
                jieba.add_word(word, freq=2000)
                _words_added.add(word)


def word_tokens(text: str) -> list[str]:
    tokens = []
    for token in jieba.lcut_for_search(text):
        token = token.strip().lower()
        if len(token) < 2 or is_stopword(token) or not _WORDISH.search(token):
            continue
        tokens.append(token)
    return tokens


def word_pinyin(word: str) -> str | None:
    """Fuzzy pinyin of a whole Chinese word, or None when it is not all Han characters."""
    if not _HAN_RUN.fullmatch(word):
        return None
    return WORD_PINYIN_PREFIX + "-".join(syllables(word))


def tokenize(text: str) -> list[str]:
    """Tokens of one text: words, their fuzzy pinyin, fuzzy pinyin bigrams. Input may be raw user text."""
    text = normalize(text)
    words = word_tokens(text)
    sounds = [p for p in map(word_pinyin, words) if p]
    return words + sounds + pinyin_bigrams(text)


class BM25:
    """Okapi BM25 over pre-tokenised documents, precomputed per term for fast queries.

    Each term's contribution to every document (idf * saturated tf) is computed once,
    so scoring a query is a sum of a few small vectors.
    """

    def __init__(self, docs: list[list[str]], k1: float = 1.2, b: float = 0.5):
        self.n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float32)
        avg_len = float(lengths.mean()) if self.n and lengths.sum() else 1.0
        norm = k1 * (1 - b + b * lengths / avg_len)
        postings: dict[str, dict[int, int]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                postings.setdefault(term, {})[i] = tf
        self.idf: dict[str, float] = {}
        self.weights: dict[str, np.ndarray] = {}
        for term, docs_tf in postings.items():
            df = len(docs_tf)
            idf = math.log(1 + (self.n - df + 0.5) / (df + 0.5))  # never negative
            row = np.zeros(self.n, dtype=np.float32)
            for i, tf in docs_tf.items():
                row[i] = idf * tf * (k1 + 1) / (tf + norm[i])
            self.idf[term] = idf
            self.weights[term] = row

    def scores(self, query: list[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens."""
        total = np.zeros(self.n, dtype=np.float32)
        for term, count in Counter(query).items():
            row = self.weights.get(term)
            if row is not None:
                total += count * row
        return total
