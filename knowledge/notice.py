"""The one-time notice (一次告知): exactly what a caller must bring for their items and situation.

Pure functions over a Guide, shared by the dialogue (actions/knowledge.py) and the printable
page (connectors/gateway/routers/knowledge.py), so both always say the same thing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jieba

from knowledge.items import ABBREVIATIONS
from knowledge.schema import Guide, Material, Situation
from nlu.textnorm import normalize

NEGATION = re.compile(r"[没未非不无]")
# Words that every item name shares and that therefore say nothing about which item is meant.
GENERIC = {"登记", "申领", "办理", "服务", "信息", "一件事", "申请", "证明", "许可", "变更", "核验", "提取", "查询"}


@dataclass
class Selection:
    """What the caller wants: a guide, some or all of its items, and their situation."""
    guide: Guide
    items: list[str] = field(default_factory=list)          # empty = every covered item
    situation: dict[str, str] = field(default_factory=dict)  # situation id -> option value

    @property
    def chosen(self) -> list[str]:
        names = [i.name for i in self.guide.items]
        picked = [n for n in names if n in self.items]
        return picked or names


def _keywords(text: str) -> set[str]:
    words = {w for w in jieba.lcut(normalize(text)) if len(w) >= 2 and w not in GENERIC}
    for full, shorts in ABBREVIATIONS.items():
        if full in text:
            words.update(shorts)
    return words


def _needed_for(material: Material, chosen: list[str]) -> bool:
    return not material.items or bool(set(material.items) & set(chosen))


def relevant_situations(sel: Selection) -> list[Situation]:
    """Situations that change the material list of the chosen items."""
    used = {sid for m in sel.guide.materials if _needed_for(m, sel.chosen) for sid in m.when}
    return [s for s in sel.guide.situations if s.id in used]


def next_question(sel: Selection) -> Situation | None:
    """The one question worth asking before answering, or None.

    Only asked while the caller has told us nothing about their situation, and only the question
    that changes the most materials: elderly callers should not sit through a questionnaire.
    Materials that depend on situations still open are marked conditional in the answer.
    """
    if sel.situation:
        return None
    relevant = relevant_situations(sel)
    if not relevant:
        return None
    weight = {s.id: sum(1 for m in sel.guide.materials if _needed_for(m, sel.chosen) and s.id in m.when)
              for s in relevant}
    return max(relevant, key=lambda s: weight[s.id])


def detect_situation(guide: Guide, text: str) -> dict[str, str]:
    """Options of the guide's situations that the caller's words clearly name."""
    text = normalize(text)
    words = _keywords(text)
    negated = bool(NEGATION.search(text))
    found: dict[str, str] = {}
    for situation in guide.situations:
        scored = []
        for option in situation.options:
            label_words = _keywords(option.label)
            # a word of the caller's inside a longer word of the label counts too: once the search index has taught
            # jieba the guides' vocabulary, "已登记结婚" is one word and "结婚了" would not meet it
            overlap = len(words & label_words) + sum(1 for w in words - label_words if w in option.label)
            if overlap and bool(NEGATION.search(option.label)) == negated:
                overlap += 1
            scored.append((overlap, option.value))
        scored.sort(reverse=True)
        if scored[0][0] > 0 and (len(scored) == 1 or scored[0][0] > scored[1][0]):
            found[situation.id] = scored[0][1]
    return found


def materials(sel: Selection) -> list[dict]:
    """The merged material list (一套材料): each material once, with the chosen items needing it."""
    out: dict[str, dict] = {}
    for m in sel.guide.materials:
        if not _needed_for(m, sel.chosen):
            continue
        if any(sid in sel.situation and sel.situation[sid] not in values for sid, values in m.when.items()):
            continue
        open_ids = [sid for sid in m.when if sid not in sel.situation]
        entry = out.setdefault(m.name, {
            "name": m.name, "form": m.form, "count": m.count, "issuer": m.issuer, "note": m.note,
            "deferrable": m.deferrable, "items": [], "conditional": bool(open_ids),
            "condition": _condition_text(sel.guide, {sid: m.when[sid] for sid in open_ids}),
        })
        for item in (m.items or sel.chosen):
            if item in sel.chosen and item not in entry["items"]:
                entry["items"].append(item)
    return list(out.values())


def _condition_text(guide: Guide, when: dict[str, list[str]]) -> str:
    labels = []
    for situation in guide.situations:
        if situation.id in when:
            labels.append("或".join(o.label for o in situation.options if o.value in when[situation.id]))
    return "；".join(labels)


def notice_url(sel: Selection) -> str:
    query = {"guide": sel.guide.name}
    if sel.items:
        query["items"] = ",".join(sel.chosen)
    if sel.situation:
        query["situation"] = ",".join(f"{k}:{v}" for k, v in sorted(sel.situation.items()))
    return "/notice?" + urlencode(query)


def parse_notice_query(guide: Guide, items: str, situation: str) -> Selection:
    """Inverse of notice_url; unknown items and options are ignored rather than failing the page."""
    known_items = {i.name for i in guide.items}
    chosen = [i for i in items.split(",") if i in known_items] if items else []
    options = {s.id: {o.value for o in s.options} for s in guide.situations}
    picked = {}
    for pair in filter(None, situation.split(",")):
        sid, _, value = pair.partition(":")
        if value in options.get(sid, ()):
            picked[sid] = value
    return Selection(guide=guide, items=chosen, situation=picked)


def _online_text(guide: Guide) -> str:
    online = guide.where.online
    if not online.available:
        return "暂不支持网上办理，需到窗口办理" + (f"（{online.note}）" if online.note else "")
    channels = "、".join(online.channels) or "内蒙古政务服务网"
    return f"可通过{channels}网上办理" + (f"，{online.note}" if online.note else "")


def _situation_labels(sel: Selection) -> list[str]:
    labels = []
    for s in sel.guide.situations:
        value = sel.situation.get(s.id)
        label = next((o.label for o in s.options if o.value == value), None)
        if label:
            labels.append(label)
    return labels


def compose(sel: Selection) -> dict:
    """Text, short spoken form and structured data of the answer."""
    guide = sel.guide
    mats = materials(sel)
    chosen = sel.chosen
    where = list(guide.where.windows)
    lines = [f"【{guide.name}】一次性告知"]
    if guide.kind == "bundle":
        scope = "全部事项" if len(chosen) == len(guide.items) else "您选择的事项"
        lines.append(f"办理{scope}：" + "、".join(chosen))
    labels = _situation_labels(sel)
    if labels:
        lines.append("您的情形：" + "；".join(labels))
    lines.append(f"需要准备的材料（共{len(mats)}项）：")
    lines.extend(material_line(m) for m in mats)
    deferrable = [m["name"] for m in mats if m["deferrable"]]
    if deferrable and guide.deferral_note:
        lines.append("容缺受理：" + guide.deferral_note)
    lines.append("办理地点：" + "；".join(where) + (f"。{guide.where.note}" if guide.where.note else ""))
    lines.append("网上办理：" + _online_text(guide))
    lines.append(f"办理时限：承诺{guide.time_limit.promised}（法定{guide.time_limit.legal}）")
    lines.append("收费标准：" + guide.fee)
    lines.append(guide.disclaimer)
    speech = (f"办理{guide.name}，需要准备{len(mats)}项材料，主要有" + "、".join(m["name"] for m in mats[:4])
              + f"。可以到{where[0]}办理，承诺时限{guide.time_limit.promised}。完整清单我已发给您。")
    data = {
        "guide": guide.name,
        "code": guide.code,
        "kind": guide.kind,
        "items": chosen,
        "all_items": [i.name for i in guide.items],
        "situation": dict(sel.situation),
        "materials": mats,
        "where": where,
        "time_limit": guide.time_limit.promised,
        "legal_time_limit": guide.time_limit.legal,
        "fee": guide.fee,
        "online": _online_text(guide),
        "online_available": guide.where.online.available,
        "region_wide": guide.region_wide,
        "deferral_note": guide.deferral_note if deferrable else "",
        "notice_url": notice_url(sel),
        "speech": speech,
    }
    return {"text": "\n".join(lines), "speech": speech, "data": data}


# Follow-up questions about the guide in focus, however briefly asked ("要钱不", "在哪办", "多久").
ASPECTS = {
    "ask_fee": re.compile(r"钱|收费|费用|免费|交费|缴费|花费|几块|多少元"),
    "ask_time": re.compile(r"多久|几天|多长时间|多少天|什么时候|啥时候|时限|工作日|哪天|多快|几个月"),
    "ask_where": re.compile(r"哪里|哪儿|哪办|在哪|去哪|地点|地址|哪个窗口|什么地方|啥地方|哪个大厅"),
    "ask_online": re.compile(r"网上|线上|手机上|手机办|app|APP|蒙速办|小程序|不用跑|在家办|跑一趟"),
}


# "要带什么", "拿什么去", "需要啥", "要啥材料", "都要什么": the caller asks again what to bring for the guide in focus
_MATERIALS = re.compile(r"(材料|东西|证件|资料|证明).{0,3}(什么|啥|哪些|哪几)|(什么|啥|哪些|哪几样)(材料|东西|证件|资料|证明)|"
                        r"(带|拿|准备|需要|都要|还要|要)(些|点)?(什么|啥|哪些)(去|过去|来)?[吗呢啊呀吧]*$")


# "还要照片吗", "要带户口本吗", "需要身份证吗": is one thing on the material list of the guide in focus
_MATERIAL_CHECK = re.compile(r"^(?:那|那么)?(?:还|也)?(?:要|需要|得|用)(?:带|交|提供|准备|拿|提交)?(?:上)?"
                             r"(?P<thing>[\u4e00-\u9fff]{1,8}?)(?:吗|么|不|嘛)$")
# what callers call a material -> words its name in a guide uses
_MATERIAL_WORDS = {
    "照片": ("照片", "相片", "免冠"), "相片": ("照片", "相片", "免冠"), "身份证": ("身份证", "身份证件"),
    "户口本": ("户口簿", "户口本", "户籍"), "户口簿": ("户口簿", "户口本", "户籍"), "结婚证": ("结婚证", "婚姻"),
    "出生证": ("出生医学证明", "出生证"), "社保卡": ("社会保障卡", "社保卡"), "驾驶证": ("驾驶证",),
    "营业执照": ("营业执照",), "银行卡": ("银行卡", "银行账户", "存折"), "合同": ("合同",), "房产证": ("不动产权", "房产证", "房屋所有权"),
}


def material_asked(text: str) -> str | None:
    """The thing a "要X吗" follow-up asks about (照片, 户口本 ...), or None."""
    m = _MATERIAL_CHECK.match(normalize(text).rstrip("？?。！!，, "))
    if not m:
        return None
    thing = re.sub(r"^(本人|我的|我|他的|孩子的)", "", m.group("thing"))
    return thing if len(thing) >= 2 and detect_aspect(thing) is None and thing not in ("什么", "多久", "多少") \
        else None


def material_check(listed: list[dict], thing: str) -> list[dict]:
    """The materials of a list (`materials(sel)`) that are the `thing` a caller asked about."""
    words = _MATERIAL_WORDS.get(thing, (thing,))
    return [m for m in listed if any(w in m["name"] for w in words)]


def material_line(m: dict) -> str:
    """One material of `materials(sel)` as the notice lists it."""
    extra = []
    if m["count"] > 1:
        extra.append(f"{m['count']}份")
    if m["deferrable"]:
        extra.append("可容缺")
    if m["conditional"]:
        extra.append(f"仅限：{m['condition']}")
    suffix = f"（{'，'.join(extra)}）" if extra else ""
    return f"• {m['name']}，{m['form']}{suffix}"


def asks_materials(text: str) -> bool:
    """A short follow-up asking what to bring (the guide's material list), with no other detail in it."""
    clean = normalize(text).rstrip("？?。！!，, ")
    return len(clean) <= 12 and bool(_MATERIALS.search(clean)) and detect_aspect(clean) is None


def detect_aspect(text: str) -> str | None:
    """Which detail of a guide a short follow-up asks about, or None."""
    clean = normalize(text)
    hits = [aspect for aspect, rx in ASPECTS.items() if rx.search(clean)]
    return hits[0] if len(hits) == 1 else None


def detail_text(sel: Selection, aspect: str) -> str:
    """The answer to one follow-up about the guide: fee, time limit, place or online."""
    guide = sel.guide
    if aspect == "ask_time":
        text = f"{guide.name}承诺办理时限：{guide.time_limit.promised}；法定时限：{guide.time_limit.legal}。"
        if len(guide.items) > 1:
            text += "\n" + "\n".join(f"• {i.name}：{i.time_limit}" for i in guide.items if i.name in sel.chosen)
        return text
    if aspect == "ask_where":
        text = f"{guide.name}可以到以下地点办理：\n" + "\n".join(f"• {w}" for w in guide.where.windows)
        return text + (f"\n{guide.where.note}" if guide.where.note else "")
    if aspect == "ask_online":
        return f"{guide.name}：{_online_text(guide)}。"
    return f"{guide.name}收费标准：{guide.fee}"
