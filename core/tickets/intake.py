"""Taking an appeal in conversation (工单受理), one question at a time: pure functions over the caller's words.

The fields are asked in this order, each only while still missing: what happened (the caller's own words,
kept verbatim), where (事发地址; required for 投诉, 举报 and 求助), when, the caller's name (optional; 举报 may be
anonymous), a phone for the reply (or "不用回复"). The appeal type (咨询 / 求助 / 投诉 / 举报 / 建议) is read from
the words and shown in the summary, where it can be changed like any field.

One message can give several fields ("就在幸福小区门口，我叫王芳，电话139…"), correct an earlier one at any time
("地址说错了，是新华大街", "不是投诉，是举报"), add to the description ("补充一下：…"), or be something else entirely
(a question about a service, 暂停, 取消, 转人工) that the conversation handles before asking again.
`interpret` decides which; the Rasa action (actions/tickets.py) only applies the outcome.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core import validators
from core.privacy import find_mobile, mask_phone, mask_text
from core.tickets.appeal_type import appeal_type as guess_type
from core.tickets.places import find_place, find_time, vague_place
from nlu.textnorm import normalize

CONFIRM = "__confirm__"
ORDER = ("description", "address", "occurred", "caller_name", "phone")
LABELS = {"appeal_type": "诉求类型", "description": "问题描述", "address": "事发地址", "occurred": "发生时间",
          "caller_name": "姓名", "phone": "联系电话", "reply_wanted": "是否需要答复"}
QUESTIONS = {
    "description": "请您具体说说遇到了什么问题：发生了什么、影响到了什么。",
    "address": "请问这个问题发生在什么地方？请说到小区、街道门牌号，或附近的标志性建筑。",
    "occurred": "这个情况是什么时候开始的，或持续多久了？（记不清可以说“不清楚”）",
    "caller_name": "请问怎么称呼您？（可以不留姓名，说“不留”即可）",
    "phone": "办理结果需要答复您吗？需要的话请留下手机号码；不需要请说“不用答复”。",
}
PLACE_REQUIRED = ("投诉", "举报", "求助")
MAX_TRIES = 2

_TYPE_WORD = r"(咨询|求助|投诉|举报|建议)"
_TYPE_CHANGE = re.compile(rf"(?:不是|不算)[^。]{{0,4}}?{_TYPE_WORD}[^。]{{0,4}}?(?:是|算|改成|改为)[^，,。]{{0,2}}?{_TYPE_WORD}|"
                          rf"(?:改成|改为|换成|应该是|其实是|类型是|算是|属于)[^，,。]{{0,2}}?{_TYPE_WORD}")
_NAME = re.compile(r"(?:我叫|我姓|本人姓?|姓名是?|名字是?|叫我|称呼我?)[:：]?\s*([\u4e00-\u9fa5·]{1,8}?)"
                   r"(?=$|[，,。.；;\s]|电话|手机|号码|联系|我的)")
_ANONYMOUS = re.compile(r"匿名|不留(?:姓)?名|不想留名|不愿意?透露|保密|不想说|不说了?名字|不用留名")
_NO_REPLY = re.compile(r"不(?:用|需要|要|必)(?:你们)?(?:答复|回复|回电|回访|联系我|打电话)|不留(?:电话|号码|手机)|不方便留(?:电话|号码)")
_SKIP = re.compile(r"^(?:没有|无|不填|跳过|不需要|暂无|没|不用|略过|不清楚|不知道|记不清|记不清了|不记得|不记得了|忘了|"
                   r"说不清|不留|不方便|算了|不想说)(?:了|的|吧|啊)*$")
_SUPPLEMENT = re.compile(r"^(?:补充(?:一下|一点|说明)?|另外|还有(?:就是)?|再说一下|顺便说一下)[:：，,]?")
_CORRECT = re.compile(r"说错|写错|填错|搞错|弄错|记错|不对|改成|改为|换成|更正|修改|应该是|其实是|重新说")
_FIELD_WORDS = {
    "address": re.compile(r"地址|地点|位置|地方|在哪"),
    "occurred": re.compile(r"时间|什么时候|日期|哪天"),
    "caller_name": re.compile(r"名字|姓名|称呼"),
    "phone": re.compile(r"电话|手机|号码"),
    "description": re.compile(r"问题描述|情况|内容|描述"),
}
_AFFIRM = re.compile(r"^(?:确认|确定|提交|确认提交|确认无误|没问题|没错|对|对的|是的|是|正确|可以|好|好的|行|嗯|嗯嗯|ok|登记吧|提交吧)"
                     r"(?:的|了|吧|啊|呀|无误|提交)*$", re.IGNORECASE)
_EDIT = re.compile(r"^(?:修改|改一下|不对|有误|有错|错了|要改|更改|不正确)")
_NOT_A_NAME = re.compile(r"确认|提交|好的|可以|不用|不要|没有|知道|什么|怎么|为什么|谢谢|你好|您好|继续|暂停|取消|修改|人工|投诉|举报")
_QUESTION = re.compile(r"[？?]|(?:吗|呢|么)$|^(?:请问|怎么|如何|为什么|为啥|能不能|可不可以|是不是|需不需要|要不要)|"
                       r"什么材料|多久|多长时间|在哪办|怎么办理|多少钱|几个工作日|怎么补|怎么办$|咋办|咋补|咋弄|咋申请|怎么申请")
# "不是投诉，我就问问", "我是问社保卡怎么补": the caller did not mean to file anything
_WITHDRAW = re.compile(r"不是(?:要)?(?:投诉|举报|反映|登记)|不(?:要|用|想)?(?:投诉|举报|登记)了|"
                       r"(?:我|就|只)(?:是)?(?:想)?问(?:问|一下)|我是(?:想)?问|只是咨询|就是咨询")
_FILLER = re.compile(r"^(?:嗯|啊|哦|呃|那个|就是|是|在|就在|地址是|地点是|是在)+|[。！!]+$")


@dataclass
class Outcome:
    updates: dict[str, Any] = field(default_factory=dict)   # field -> value ("" = skipped)
    corrected: list[str] = field(default_factory=list)      # updated fields that already had a value
    errors: dict[str, str] = field(default_factory=dict)    # field -> why the answer was not taken
    interrupt: bool = False                                  # not an answer: the conversation handles it
    question: bool = False                                   # a side question to answer, then ask again
    withdrawn: bool = False                                  # "不是投诉，我就问问": offer to cancel, keep nothing
    confirmed: bool = False
    edit_requested: bool = False
    unclear: bool = False


def first_message(text: str) -> dict[str, Any]:
    """The fields one opening sentence gives ("我们幸福小区门口的路灯坏了好几天了" -> description, address, when)."""
    clean = normalize(text or "").strip()
    data: dict[str, Any] = {"appeal_type": guess_type(clean)}
    if substantive(clean):
        data["description"] = text.strip()
    place = find_place(clean)
    if place:
        data["address"] = place
    when = find_time(clean)
    if when:
        data["occurred"] = when
    phone = find_mobile(clean)
    if phone:
        data["phone"], data["reply_wanted"] = phone, True
    name = _NAME.search(clean)
    if name:
        data["caller_name"] = name.group(1)
    return data


_OPENING_ONLY = re.compile(r"^(?:你好|您好)?[，,]?(?:我)?(?:要|想|想要|需要)?(?:投诉|举报|反映|求助|咨询|建议|提(?:个|一个)?建议|"
                           r"提(?:个|一个)?意见|反映(?:个|一个)?问题|登记(?:个|一个)?(?:诉求|工单)|报(?:个)?问题)(?:一下|个事|件事|个问题)?[。！!]*$")


def substantive(text: str) -> bool:
    """True when the words say what happened, not just "我要投诉"."""
    clean = re.sub(r"\s", "", normalize(text or ""))
    return len(clean) >= 5 and not _OPENING_ONLY.match(clean)


def required(name: str, data: dict[str, Any]) -> bool:
    if name == "description":
        return True
    if name == "address":
        return data.get("appeal_type") in PLACE_REQUIRED
    return False


def next_field(data: dict[str, Any]) -> str | None:
    """The next field to ask, or None when the summary can be shown."""
    for name in ORDER:
        if name == "phone" and data.get("reply_wanted") is False:
            continue
        if data.get(name) is None:
            return name
    return None


def interpret(text: str, data: dict[str, Any], asked: str | None, *, intent: str = "",
              confidence: float = 0.0) -> Outcome:
    out = Outcome()
    clean = normalize(text or "").strip()
    if not clean:
        out.unclear = True
        return out
    rest = clean
    if _WITHDRAW.search(clean) and asked != "description" and not _TYPE_CHANGE.search(clean):
        out.withdrawn = True
        out.question = bool(_QUESTION.search(clean))
        return out
    # -- several fields from one message, and corrections, whatever was asked ---------------------------------
    change = _TYPE_CHANGE.search(rest)
    if change:
        new_type = change.group(2) or change.group(3)
        if new_type and new_type != data.get("appeal_type"):
            _set(out, data, "appeal_type", new_type)
        rest = rest.replace(change.group(0), " ")
    phone = find_mobile(rest)
    if phone:
        _set(out, data, "phone", phone)
        out.updates["reply_wanted"] = True
        rest = re.sub(r"(?:电话|手机|号码|联系方式)?(?:号码)?(?:是|为|改成|改为)?[:：]?\s*\+?[0-9０-９][0-9０-９\s\-]{9,16}", " ", rest)
    elif _NO_REPLY.search(rest):
        out.updates["reply_wanted"] = False
        if data.get("phone") is None or asked == "phone":
            out.updates["phone"] = ""
        rest = _NO_REPLY.sub(" ", rest)
    name = _NAME.search(rest)
    if name:
        _set(out, data, "caller_name", name.group(1))
        rest = rest.replace(name.group(0), " ")
    elif _ANONYMOUS.search(rest) and asked in ("caller_name", CONFIRM, "phone", None):
        _set(out, data, "caller_name", "")
        out.updates["anonymous"] = data.get("appeal_type") == "举报" or "匿名" in rest
        rest = _ANONYMOUS.sub(" ", rest)
    supplement = _SUPPLEMENT.match(rest)
    if supplement and asked != "description":
        added = rest[supplement.end():].strip(" ，,")
        if added:
            _set(out, data, "description", ((data.get("description") or "") + "\n补充：" + added).strip())
            return out
    corrected_field = _correction_field(rest) if _CORRECT.search(rest) else None
    if corrected_field in ("address", "occurred", "description"):
        value = re.split(r"改成|改为|换成|应该是|其实是|是|在", rest)[-1].strip(" ，,。：:")
        if value and len(value) >= 2:
            _set(out, data, corrected_field, value[:200])
            return out
    if out.corrected or (asked not in (None, CONFIRM) and asked in out.updates):
        return out
    residual = _FILLER.sub("", rest.strip(" ，,。；;"))
    # -- what is not an answer ------------------------------------------------------------------------------
    control = intent in ("cancel_application", "pause_application", "request_human", "check_status",
                         "start_application", "goodbye") and confidence >= 0.5
    if asked == CONFIRM:
        if _AFFIRM.match(residual) or intent == "confirm_application":
            out.confirmed = not out.updates
        elif _EDIT.match(residual):
            out.edit_requested = True
        elif control:
            out.interrupt = True
        elif not out.updates:
            if _QUESTION.search(residual) or intent.startswith("ask_"):
                out.question = True
            else:
                out.unclear = True
        return out
    if control and not out.updates:
        out.interrupt = True
        return out
    if asked != "description" and not out.updates and _QUESTION.search(residual) and not _SKIP.match(residual):
        out.question = True
        return out
    if not residual or asked is None:
        if not out.updates:
            out.unclear = True
        return out
    _answer(out, data, asked, residual, text)
    return out


def _correction_field(text: str) -> str | None:
    for name, pattern in _FIELD_WORDS.items():
        if pattern.search(text):
            return name
    return None


def _set(out: Outcome, data: dict[str, Any], name: str, value: Any) -> None:
    if data.get(name) not in (None, "") and data.get(name) != value:
        out.corrected.append(name)
    out.updates[name] = value


def _answer(out: Outcome, data: dict[str, Any], asked: str, residual: str, raw: str) -> None:
    skip = bool(_SKIP.match(residual))
    if asked == "description":
        if skip or not substantive(residual):
            out.errors["description"] = "请具体说说遇到了什么问题，比如“小区门口路灯坏了一个月没人修”。"
        else:
            _set(out, data, "description", raw.strip())
        return
    if asked == "address":
        tries = int((data.get("_tries") or {}).get("address", 0))
        if skip:
            if required("address", data) and tries < MAX_TRIES:
                out.errors["address"] = "需要知道问题发生的地点，相关部门才能到现场处理。说不清门牌号的，说附近的小区、路名或标志性建筑也可以。"
            else:
                _set(out, data, "address", "")
            return
        place = find_place(residual)
        if place is None and vague_place(residual) and tries < MAX_TRIES:
            out.errors["address"] = "请说得具体一些：哪个小区、哪条街道，或附近有什么标志性建筑？"
            return
        _set(out, data, "address", (residual if len(residual) <= 60 else place or residual)[:200])
        return
    if asked == "occurred":
        _set(out, data, "occurred", "" if skip else (find_time(residual) or residual)[:64])
        return
    if asked == "caller_name":
        if skip:
            _set(out, data, "caller_name", "")
            out.updates["anonymous"] = data.get("appeal_type") == "举报"
            return
        name = re.sub(r"^(?:我|我是|叫|姓)+", "", residual)
        if re.fullmatch(r"[\u4e00-\u9fa5·]{1,8}", name) and not _AFFIRM.match(name) and not _NOT_A_NAME.search(name) \
                and find_time(name) is None:   # "去年十月开始": a late answer to "when", not a name
            _set(out, data, "caller_name", name)
        else:
            out.errors["caller_name"] = "请告诉我您的姓名或称呼，如“王女士”；不想留名请说“不留”。"
        return
    if asked == "phone":
        if skip:
            out.updates["phone"], out.updates["reply_wanted"] = "", False
            return
        check = validators.validate_phone(residual)
        if check.ok:
            _set(out, data, "phone", check.value)
            out.updates["reply_wanted"] = True
        else:
            out.errors["phone"] = check.error + "不需要答复请说“不用答复”。"


def summary_rows(data: dict[str, Any]) -> list[dict[str, str]]:
    """The summary table: label and shown value of each field (phone masked)."""
    rows = [{"field": "appeal_type", "label": LABELS["appeal_type"], "value": data.get("appeal_type") or ""}]
    for name in ORDER:
        value = data.get(name)
        if name == "phone":
            value = mask_phone(value) if value else "（不需要答复）"
        elif name == "caller_name":
            value = value or ("（匿名）" if data.get("anonymous") else "（未留姓名）")
        elif value in (None, ""):
            value = "（未提供）"
        else:
            value = mask_text(str(value))   # the caller's words may hold an ID or phone number
        rows.append({"field": name, "label": LABELS[name], "value": str(value)})
    return rows


def summary_text(data: dict[str, Any]) -> str:
    lines = ["请核对您要登记的诉求："] + [f"{r['label']}：{r['value']}" for r in summary_rows(data)]
    lines.append("无误请说“确认提交”；需要修改请直接说，例如“地址改成新华大街”或“不是投诉，是举报”。")
    return "\n".join(lines)
