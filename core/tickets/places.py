"""Where and when a problem happened, read from the caller's words; place keys and text likeness for duplicates.

Pure functions over text, no database: used by the intake conversation (to take 事发地址 and time from the
first sentence) and by duplicate detection (is this the same problem at the same place?).
"""
from __future__ import annotations

import re

from nlu.textnorm import normalize

# A named place: a name of 1-12 characters followed by a kind of place (幸福小区, 新华大街, 第三中学, 红旗村).
_PLACE_KIND = (r"小区|花园|家园|公寓|大厦|广场|公园|商场|市场|超市|医院|卫生院|学校|中学|小学|幼儿园|大学|社区|村|嘎查|苏木|镇|乡|"
               r"街道|大街|大道|路(?![灯面口边段])|街(?![边])|巷|胡同|桥|站|车站|饭店|酒店|宾馆|工地|厂|公司|银行|加油站|停车场|菜市场|步行街|苑|园|城|里")
_NAME_CHAR = r"(?:(?![的在是有了着])[\u4e00-\u9fa5A-Za-z0-9])"
_PLACE = re.compile(rf"({_NAME_CHAR}{{1,12}}(?:{_PLACE_KIND}))"
                    rf"((?:{_NAME_CHAR}{{0,6}}?(?:\d+|[一二三四五六七八九十]+)(?:号楼|号院|号|栋|幢|单元|楼|巷|排|组))*)")
# Words that start a clause but are not part of the place's name.
_LEAD = re.compile(r"^(?:我们|我家|我|咱们|咱|俺们|俺|在|就在|位于|住在|地址是|地点是|地址|地点|事发地|那个|这个|这边|那边|我住的|家住|是|的|有个|有一个|"
                   r"一个|附近的?|旁边的?|门口的?|楼下的?|对面的?|隔壁的?)+")
_VAGUE = re.compile(r"^(?:这里|那里|这边|那边|附近|家里|家门口|门口|楼下|路上|马路|大街|街上|小区|村里|单位|公司|学校|医院)$")
_PLACE_NOISE = re.compile(r"门口|附近|旁边|对面|东门|西门|南门|北门|后门|正门|周边|一带|里面|外面|楼下|楼上|路口|十字路口|[东南西北]侧|"
                          r"[\s，,。．.、:：]")
_HERE = re.compile(r"(?:我们|我家|咱们|俺们)?(?:这里|这边|这儿|那边|家门口|门口|楼下|小区|村里|单位)")

_TIME = re.compile(
    r"(?:从)?(?:今天|今早|今晚|昨天|昨晚|前天|前几天|这几天|最近|近期|上周[一二三四五六日天]?|本周|这周|上个月|这个月|上月|去年|今年|"
    r"每天|天天|每晚|每天晚上|晚上|半夜|凌晨|早上|中午|下午|"
    r"\d{1,4}年|\d{1,2}月\d{1,2}[日号]?|\d{1,2}点)"
    r"(?:[^，,。！!？?；;]{0,8}?(?:开始|以来|起|到现在|至今|了|点|多))?"
    r"|(?:好|已经|都|快)?(?:几|一|两|三|四|五|六|七|八|九|十|半|\d+)+(?:个)?(?:多)?(?:天|周|星期|礼拜|个月|月|年)(?:多|了|来)*"
    r"|(?:好|很|挺)久(?:了)?")


def find_place(text: str) -> str | None:
    """The most specific named place in text ("幸福小区3号楼", "新华大街与锡林路交叉口"), or None."""
    clean = normalize(text or "")
    best: str | None = None
    for match in _PLACE.finditer(clean):
        place = _LEAD.sub("", match.group(0))
        if len(place) < 3 or _VAGUE.match(place):
            continue
        if best is None or len(place) > len(best):
            best = place
    return best


def vague_place(text: str) -> bool:
    """"我们这里", "楼下": a place the department cannot find."""
    clean = re.sub(r"[\s，,。！!？?的]", "", normalize(text or ""))
    return not clean or bool(_HERE.fullmatch(clean)) or bool(_VAGUE.match(clean))


def place_key(address: str) -> str:
    """A comparable form of an address: the named place without 门口/附近/东门 and punctuation; "" if none."""
    place = find_place(address)
    return _PLACE_NOISE.sub("", place)[:200] if place else ""


def same_place(a: str, b: str) -> bool:
    if not a or not b:
        return False
    return a == b or (min(len(a), len(b)) >= 3 and (a in b or b in a))


def find_time(text: str) -> str | None:
    """When it happened or how long it has lasted, as said ("半夜", "好几天了", "上个月开始")."""
    match = _TIME.search(normalize(text or ""))
    return match.group(0) if match else None


_STOP = re.compile(r"[\s，,。！!？?；;、：:“”\"'（）()]|我们|我家|我要|投诉|反映|举报|建议|一下|一个|这个|那个|了|的|是|在|有|啊|呀|吧|呢")


def char_pairs(text: str) -> set[str]:
    clean = _STOP.sub("", normalize(text or ""))
    return {clean[i:i + 2] for i in range(len(clean) - 1)} or ({clean} if clean else set())


def problem_words(text: str) -> str:
    """The description without its place and time, which say nothing about what the problem is."""
    clean = normalize(text or "")
    for part in (find_place(clean), find_time(clean)):
        if part:
            clean = clean.replace(part, " ")
    return _PLACE_NOISE.sub(" ", clean)


def problem_pairs(text: str) -> set[str]:
    """The character pairs of a description that say what the problem is (what `likeness` compares)."""
    return char_pairs(problem_words(text))


def likeness(a: str, b: str) -> float:
    """Share of character pairs two descriptions of problems have in common (0-1, overlap coefficient)."""
    x, y = problem_pairs(a), problem_pairs(b)
    if not x or not y:
        return 0.0
    return len(x & y) / min(len(x), len(y))
