"""Which covered items of a 一件事 the caller wants, from how people actually say it.

Callers name items partially or colloquially ("营业执照" for 营业执照办理, "消防那个" for the fire
safety check) and mix inclusion and exclusion in one sentence ("我只要办营业执照和食品经营许可，
消防那个先不办"). This module finds the items mentioned, decides for each mention whether it is
wanted or excluded from the markers around it, and returns the resulting choice.

Pure functions over a Guide; no dialogue state.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import jieba

from knowledge.schema import Guide
from nlu.textnorm import normalize

# Sub-words of item names that say nothing about which item is meant.
GENERIC = {
    "登记", "申领", "办理", "服务", "信息", "一件事", "申请", "证明", "许可", "变更", "核验", "提取", "查询",
    "安全", "检查", "使用", "设置", "投入", "场所", "公众", "聚集", "城镇", "手续", "业务", "事项", "备案",
    "审批", "发放", "认定", "管理", "办证", "证件", "补贴", "核发", "确认",
}
ABBREVIATIONS = {
    "医疗保险": ["医保"], "社会保障卡": ["社保卡"], "住房公积金": ["公积金"], "户口": ["落户", "上户口"],
    "养老保险": ["养老金", "养老"], "居民身份证": ["身份证"], "营业执照": ["执照"], "社会保险": ["社保"],
    "消防安全检查": ["消防"], "排水管网": ["排水", "污水"], "最低生活保障": ["低保"],
}
_SUFFIXES = ("办理", "登记", "申领", "服务", "申请", "办证")

# Markers that exclude the items they stand next to; EXCLUDE_PREFIX ones govern what follows them.
EXCLUDE = re.compile(r"先不办|暂不办|暂时不办|不用办|不需要办|不想办|不打算办|不办|别办|不用|不需要|不要|"
                     r"(先|暂时|就)?不(弄|整|搞|提|领|申请|做|去)|以后再说|回头再说|再说吧|再说|自己(去|来|办|弄)|"
                     r"暂不|先不|去掉|除了|除去|不包括|不含|免了|算了")
EXCLUDE_PREFIX = {"除了", "除去", "不包括", "不含", "去掉"}
INCLUDE = re.compile(r"只办|只要|只想办|只需要|就办|仅办|要办|想办|需要办|得办|办|要|需要")
LIMITING = re.compile(r"只|仅|就办|单独|部分|其中|几项|哪几|这几|两项|三项")
_SEGMENT = re.compile(r"[，,。；;！!？?\n]|但是|不过|可是")
_TRAILING = re.compile(r"^[了吧啊呢的哈呀嘛先都也就那个这个项事\s]*$")
_BUT_ALSO = re.compile(r"^[^，,。；;]*?(还|也)(要|想|得|需要)")


@dataclass(frozen=True)
class _Event:
    start: int
    end: int
    kind: str            # "item", "exclude", "include"
    value: str = ""      # item name or marker text


def _mentions(guide: Guide) -> tuple[tuple[str, str], ...]:
    return _mention_table(tuple((i.name, tuple(i.aliases)) for i in guide.items))


@lru_cache(maxsize=256)
def _mention_table(items: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[tuple[str, str], ...]:
    """(mention, item name) pairs, longest first; a sub-word shared by two items is dropped.

    Mentions: the name, the name without a generic suffix, its distinctive sub-words, common
    abbreviations, and the aliases editors give an item (what callers call it).
    """
    item_names = tuple(n for n, _ in items)
    names = [normalize(n) for n in item_names]
    pairs: dict[str, str] = {}
    for (item, aliases), name in zip(items, names):
        pairs.update({normalize(a): item for a in aliases if len(normalize(a)) >= 2})
        candidates = {name}
        for suffix in _SUFFIXES:
            if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                candidates.add(name[: -len(suffix)])
        candidates.update(w for w in jieba.lcut_for_search(name) if len(w) >= 2 and w not in GENERIC)
        for full, shorts in ABBREVIATIONS.items():
            if full in name:
                candidates.update(shorts)
        for mention in candidates:
            others = [n for n in names if n != name]
            if mention != name and any(mention in other for other in others):
                continue  # ambiguous between items
            pairs.setdefault(mention, item)
    return tuple(sorted(pairs.items(), key=lambda p: -len(p[0])))


@lru_cache(maxsize=256)
def _distinctive_chars(item_names: tuple[str, ...]) -> dict[str, str]:
    """Characters that occur in exactly one item's name (and are not generic): char -> item."""
    generic = set("".join(GENERIC)) | set("证书卡费人员单位办理服务业务手续事项")
    owners: dict[str, set[str]] = {}
    for name in item_names:
        for ch in set(normalize(name)):
            owners.setdefault(ch, set()).add(name)
    return {ch: next(iter(names)) for ch, names in owners.items() if len(names) == 1 and ch not in generic}


def _find_items(guide: Guide, text: str) -> list[_Event]:
    taken = [False] * len(text)
    events = []
    for mention, item in _mentions(guide):
        for match in re.finditer(re.escape(mention), text):
            s, e = match.span()
            if any(taken[s:e]):
                continue
            taken[s:e] = [True] * (e - s)
            events.append(_Event(s, e, "item", item))
    # Colloquial reorderings ("刻章" for 公章刻制): two or more adjacent characters that all
    # belong to the same single item's name.
    chars = _distinctive_chars(tuple(i.name for i in guide.items))
    i = 0
    while i < len(text):
        owner = chars.get(text[i]) if not taken[i] else None
        j = i
        while owner and j < len(text) and not taken[j] and chars.get(text[j]) == owner:
            j += 1
        if owner and j - i >= 2:
            taken[i:j] = [True] * (j - i)
            events.append(_Event(i, j, "item", owner))
        i = max(j, i + 1)
    return sorted(events, key=lambda e: e.start)


def _markers(text: str, items: list[_Event]) -> list[_Event]:
    """Include/exclude markers outside item mentions (so 营业 in 营业执照 is never a marker)."""
    masked = list(text)
    for ev in items:
        masked[ev.start:ev.end] = ["\0"] * (ev.end - ev.start)
    plain = "".join(masked)
    events, used = [], [False] * len(text)
    for kind, rx in (("exclude", EXCLUDE), ("include", INCLUDE)):
        for match in rx.finditer(plain):
            s, e = match.span()
            if "\0" in match.group() or any(used[s:e]):
                continue
            used[s:e] = [True] * (e - s)
            events.append(_Event(s, e, kind, match.group()))
    return events


def _segments(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for match in _SEGMENT.finditer(text):
        bounds.append((start, match.start()))
        start = match.end()
    bounds.append((start, len(text)))
    return bounds


def _excluded(mention: _Event, events: list[_Event], text: str) -> bool:
    """Is this mention governed by an exclusion marker within its clause?"""
    later = [e for e in events if e.start >= mention.end and e.kind != "item"]
    earlier = [e for e in events if e.end <= mention.start and e.kind != "item"]
    if later:
        marker = later[0]
        if marker.kind == "exclude" and marker.value not in EXCLUDE_PREFIX:
            rest = text[marker.end:]
            following_items = [e for e in events if e.kind == "item" and e.start >= marker.end]
            if _TRAILING.match(rest) or not following_items:
                return True  # "消防那个先不办", "营业执照不要了"
    if earlier:
        marker = earlier[-1]
        if marker.kind == "exclude":
            if marker.value == "除了" and _BUT_ALSO.match(text[mention.end:]):
                return False  # "除了营业执照还要办消防": both wanted
            return True      # "不要消防", "除了消防其他都办"
    return False


def mentioned_items(guide: Guide, text: str) -> list[str]:
    """Covered items named in the text (partially or colloquially), in the guide's order."""
    found = {ev.value for ev in _find_items(guide, normalize(text))}
    return [i.name for i in guide.items if i.name in found]


def without_item_mentions(guide: Guide, text: str) -> str:
    """The text with item mentions blanked out, so "消防那个先不办" says nothing about the fire-check situation."""
    text = normalize(text)
    for ev in sorted(_find_items(guide, text), key=lambda e: -e.start):
        text = text[:ev.start] + "，" + text[ev.end:]
    return text


def detect_items(guide: Guide, text: str, *, expecting: bool = False) -> list[str] | None:
    """Covered items the caller limited the request to, or None if they did not limit it.

    `expecting` says the assistant has just asked which items: then naming items is enough.
    Otherwise a limiting or excluding word must be present ("只", "不办", "除了"...), so that
    "营业执照要多久" does not narrow a bundle by accident.
    """
    if guide.kind != "bundle" or len(guide.items) < 2:
        return None
    text = normalize(text)
    if not expecting and not (LIMITING.search(text) or EXCLUDE.search(text)):
        return None
    wanted: list[str] = []
    unwanted: set[str] = set()
    for start, end in _segments(text):
        clause = text[start:end]
        items = _find_items(guide, clause)
        events = sorted(items + _markers(clause, items), key=lambda e: e.start)
        for mention in items:
            if _excluded(mention, events, clause):
                unwanted.add(mention.value)
            elif mention.value not in wanted:
                wanted.append(mention.value)
    if not wanted and not unwanted:
        return None
    order = [i.name for i in guide.items]
    chosen = [n for n in order if n in wanted and n not in unwanted] if wanted else \
        [n for n in order if n not in unwanted]
    return chosen or None


def parse_item_list(guide: Guide, value: str | None) -> list[str]:
    """The items of a "choose_items" button payload: exact names joined by "|"; unknown names ignored."""
    known = [i.name for i in guide.items]
    picked = {v.strip() for v in (value or "").split("|")}
    return [n for n in known if n in picked]
