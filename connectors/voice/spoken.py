"""The spoken form of every bot message kind: what the voice line says for `{text, kind, data, buttons}`.

A screen can show a list of twelve materials and five buttons; an ear cannot take that in. So a guide
answer says how many materials there are and reads the key ones, choices are read as a short numbered
menu (press 1, 2, 3 or say it), numbers are read back digit by digit, links are left out, and long texts
are cut at a sentence boundary. `data.speech`, where an action already wrote one, is the starting point.
"""
from __future__ import annotations

import re

from speech.textnorm import for_speech, say_number

MAX_CHARS = 160
MAX_MENU = 4
NUMBER_FIELDS = {"id_number", "phone"}


def _cut(text: str, limit: int = MAX_CHARS) -> str:
    if len(text) <= limit:
        return text
    sentences = re.findall(r"[^。！？]*[。！？]?", text)
    out = ""
    for sentence in sentences:
        if out and len(out) + len(sentence) > limit:
            break
        out += sentence
    return out or text[:limit]


def menu(buttons: list[dict]) -> str:
    """"确认提交请按1，修改请按2" for up to four buttons (more are offered by voice only)."""
    titles = [b.get("title", "") for b in buttons[:MAX_MENU] if b.get("title")]
    if not titles:
        return ""
    return "，".join(f"{t}请按{i}" for i, t in enumerate(titles, start=1)) + "。"


def _guide_answer(data: dict) -> str:
    materials = data.get("materials") or []
    names = [m.get("name", "") for m in materials if not m.get("conditional")][:3] or \
        [m.get("name", "") for m in materials][:3]
    parts = [f"办理{data.get('guide', '这项业务')}，需要准备{len(materials)}项材料"]
    if names:
        parts[0] += "，主要有" + "、".join(n for n in names if n)
    where = data.get("where") or []
    if where:
        parts.append(f"可以到{where[0]}办理")
    if data.get("time_limit"):
        parts.append(f"承诺时限{data['time_limit']}")
    text = "。".join(parts) + "。"
    if data.get("online_available"):
        text += "也可以在网上办理。"
    return text + "完整的一次性告知单可以在蒙速办或政务服务网查看。重听请按星号键。"


def _status_result(data: dict) -> str:
    number = data.get("number") or ""
    text = f"您的办件，编号{say_number(number)}，" if number else "您的办件"
    text += f"目前的状态是{data.get('overall', '')}。"
    for item in (data.get("items") or [])[:3]:
        if item.get("note"):
            text += f"{item.get('name', '')}：{item['note']}。"
    return text


def spoken(message: dict) -> str:
    """What to say for one bot message (Simplified Chinese, ready for the synthesiser)."""
    kind, data = message.get("kind", "text"), message.get("data") or {}
    text = message.get("text") or ""
    buttons = message.get("buttons") or []
    if kind == "guide_answer":
        said = _guide_answer(data)
    elif kind == "status_result":
        said = _status_result(data)
    elif kind == "form_summary":
        rows = data.get("rows") or []
        said = "请核对您填写的信息：" + "；".join(f"{r.get('label')}，{r.get('value')}" for r in rows[:8]) + "。"
    elif kind in ("guide_detail", "status_detail") and data.get("speech"):
        said = data["speech"]
    elif kind == "application_submitted":
        said = f"申请已提交，回执号是{say_number(data.get('number', ''))}。请记好回执号，办理进度可以随时来电查询。"
    else:
        said = data.get("speech") or text
    said = _cut(for_speech(said))
    if kind in ("form_question", "status_question") and (data.get("type") in NUMBER_FIELDS
                                                         or data.get("field") == "number"):
        said += "您可以直接说，也可以在电话键盘上输入，以井号键结束。"
        buttons = [b for b in buttons if b.get("title") != "跳过"]
    if buttons and kind not in ("guide_answer", "rating_request"):  # a rating says its own keys (data.levels)
        said += menu(buttons)
    if kind == "fallback" and data.get("offer_human"):
        said += "转人工请按0。"
    return said


def with_speech(message: dict) -> dict:
    """The message as the voice channel sends it: `data.speech` always set."""
    out = dict(message)
    out["data"] = dict(message.get("data") or {})
    out["data"]["speech"] = spoken(message)
    return out


def rating_payload(message: dict | None, digit: str) -> str | None:
    """The `/rate{...}` payload for a key pressed after a rating request (data.levels[].key), if any."""
    if not message or message.get("kind") != "rating_request":
        return None
    data = message.get("data") or {}
    for level in data.get("levels") or []:
        if str(level.get("key")) == digit:
            rate = {"level": level.get("level")}
            if data.get("number"):
                rate["number"] = data["number"]
            import json

            return "/rate" + json.dumps(rate, ensure_ascii=False)
    return None


def is_number_entry(message: dict | None) -> bool:
    """The bot is asking for an ID, phone or receipt number: digits go to the entry buffer, not the menu."""
    if not message:
        return False
    data = message.get("data") or {}
    return message.get("kind") in ("form_question", "status_question", "form_invalid") and (
        data.get("type") in NUMBER_FIELDS or data.get("field") in ("number", "verify"))


def wants_short_pause(message: dict | None) -> bool:
    """A yes/no or pick-one question: the caller's answer is short, so end the turn after a short pause."""
    if not message:
        return False
    return bool(message.get("buttons")) and not is_number_entry(message) or \
        message.get("kind") in ("form_summary", "clarify")
