"""Understanding what a caller says while an application form is being filled (pure functions).

One utterance can answer the question just asked, give several other fields at once
("我叫张三，身份证…，电话…"), correct an earlier answer ("刚才电话说错了，是139…"),
or be something else entirely (a guidance question, "暂停", "转人工") that the form
must let other dialogue rules handle. `interpret` decides which, without Rasa, so it
is unit-tested directly (tests/unit/test_applications.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from core import validators
from core.application_forms import ApplicationForm, FieldSpec
from nlu.textnorm import normalize

CONFIRM = "__confirm__"   # the pseudo-field asked when the summary is shown

# Intents after which a message that is not a valid answer is handed to other rules.
CONTROL_INTENTS = {"pause_application", "cancel_application", "start_application",
                   "request_human", "check_status"}
OTHER_INTENTS = {"ask_guide", "ask_variant", "ask_time", "ask_where", "ask_online", "ask_fee", "choose_guide", "choose_option",
                 "ask_capabilities", "bot_challenge", "out_of_scope", "goodbye", "greet", "thank"}

_CLAUSE = re.compile(r"[，,。；;！!？?\n]")
_CORRECTION = re.compile(r"说错|写错|填错|输错|打错|搞错|弄错|记错|改成|改为|改一下|换成|更正|修改|应该是|应为|其实是|重新")
_CORRECT_TO = re.compile(r"(?:改成|改为|换成|更正为|更改为|修改为|应该是|应为|其实是)[:：]?")
_SKIP = re.compile(r"^(?:没有|无|不填|跳过|不需要|暂无|没|空着|不用|略过|免填|不用填|先不填|这项不填|没有的)(?:了|的|吧)?$")
_STRONG_QUESTION = re.compile(
    r"[？?]|(?:吗|呢|么)$|^(?:请问|怎么|如何|为什么|为啥|能不能|可不可以|是不是|需不需要|要不要)|"
    r"什么材料|多久|多长时间|哪里|在哪|怎么办|多少钱|几个工作日")
_WEAK_QUESTION = re.compile(r"什么|怎么|怎样|如何|哪|几天|多少|多久|是否|能否|有没有|可以吗|行吗")
_AFFIRM = re.compile(r"^(?:确认|确定|提交|确认提交|确认无误|没问题|没错|对|对的|是的|是|正确|可以|好|好的|行|嗯|嗯嗯|ok|OK)"
                     r"(?:的|了|吧|啊|呀|无误|提交)*$")
_EDIT = re.compile(r"修改|不对|有误|有错|错了|改一下|要改|更改|不正确")
_FILLER = re.compile(r"刚才|刚刚|之前|前面|上面|那个|这个|说错了|写错了|填错了|输错了|打错了|搞错了|弄错了|记错了|说错|写错|"
                     r"填错|错了|不对|重新说|更正|修改|一下|号码|号|我的|他的|她的|的|是|了|啊|呀|哦|嗯|吧|呢|就|为|:|：|\s")

ROLE_WORDS: list[tuple[str, str]] = [
    ("other", r"另一方|孩子(?:他|她)?(?:爸爸|妈妈|爸|妈|父亲|母亲)|爱人|老公|老婆|丈夫|妻子|配偶|媳妇|他爸|她爸|他妈|她妈"),
    ("child", r"孩子|宝宝|小孩|新生儿|婴儿|儿子|女儿|娃"),
    ("other", r"父亲|母亲|爸爸|妈妈"),
    ("agent", r"代办人|代办|委托人|监护人"),
    ("legal_rep", r"法定代表人|法人|负责人"),
    ("tax", r"办税|财务"),
    ("applicant", r"我|本人|申请人|经办人|经营者|持卡人|退休人员"),
]
FIELD_ROLE_PREFIX = {"child_": "child", "other_parent_": "other", "agent_": "agent", "legal_rep_": "legal_rep",
                     "tax_contact_": "tax", "applicant_": "applicant"}
TYPE_WORDS = {
    "name": r"姓名|名字|叫",
    "id_number": r"身份证|证件号",
    "phone": r"电话|手机|联系方式|号码",
    "date": r"日期|生日|出生|时间",
    "address": r"地址|住址|住所|场所",
}
_ROLE_PREFIX_WORDS = re.compile(r"^(?:新生儿另一方父（母）|新生儿另一方|新生儿|申请人|经办人|持卡人|经营者|退休人员|"
                                r"法定代表人（负责人）|法定代表人|代办人|办税人员（财务负责人）)")


@dataclass
class Outcome:
    updates: dict[str, str] = field(default_factory=dict)       # field -> canonical value
    corrected: list[str] = field(default_factory=list)          # updated fields that already had a value
    errors: dict[str, str] = field(default_factory=dict)        # field -> why the value given was refused
    interrupt: bool = False                                     # not an answer: let other rules handle it
    confirmed: bool = False
    edit_requested: bool = False
    unclear: bool = False                                       # at the summary: neither yes, no nor a change
    repeat: bool = False                                        # "继续": just ask the question again


def field_role(spec: FieldSpec) -> str | None:
    for prefix, role in FIELD_ROLE_PREFIX.items():
        if spec.field.startswith(prefix):
            return role
    return None


def roles_in(text: str) -> set[str]:
    found: set[str] = set()
    rest = text
    for role, pattern in ROLE_WORDS:
        if re.search(pattern, rest):
            found.add(role)
            rest = re.sub(pattern, " ", rest)
    if len(found) > 1:
        found.discard("applicant")  # "我爱人的电话" is about the spouse
    return found


def label_keywords(spec: FieldSpec) -> list[str]:
    core = re.sub(r"[（(].*?[)）]", "", spec.label)
    words = {core, _ROLE_PREFIX_WORDS.sub("", spec.label)}
    words.add(re.sub(r"[（(].*?[)）]", "", _ROLE_PREFIX_WORDS.sub("", spec.label)))
    return sorted((w for w in words if len(w) >= 2), key=len, reverse=True)


def _shares_label(spec: FieldSpec, ctx: str, least: int = 3, terse: bool = False) -> bool:
    """ctx contains 3+ consecutive characters of the label ("单位名称" for "所在单位名称")."""
    core = re.sub(r"[（(].*?[)）]", "", spec.label)
    if terse and len(_FILLER.sub("", ctx)) <= 4:  # "银行改成…" / "医院改成…" name the field by two characters
        least = 2
    n = min(least, len(core))
    return any(core[i:i + n] in ctx for i in range(len(core) - n + 1)) and len(core) >= 2


def score(spec: FieldSpec, ctx: str, terse: bool = False) -> int:
    if not ctx:
        return 0
    points = 0
    roles = roles_in(ctx)
    role = field_role(spec)
    if role and role in roles:
        points += 3
    elif roles and role and role not in roles:
        points -= 2
    if any(k in ctx for k in label_keywords(spec)) or _shares_label(spec, ctx, terse=terse):
        points += 2
    pattern = TYPE_WORDS.get(spec.type)
    if pattern and re.search(pattern, ctx) and not (spec.type == "phone" and "身份证" in ctx):
        points += 1
    return points


def looks_like_question(text: str, *, strict: bool) -> bool:
    return bool(_STRONG_QUESTION.search(text) or (not strict and _WEAK_QUESTION.search(text)))


@dataclass
class _Mention:
    field: str
    raw: str
    start: int
    end: int


def _clause_before(text: str, start: int) -> str:
    head = text[:start]
    parts = _CLAUSE.split(head)
    clause = parts[-1] if parts else ""
    if not clause.strip() and len(parts) > 1:
        clause = parts[-2]
    return clause


def _pick(candidates: list[FieldSpec], ctx_clause: str, ctx_full: str, asked: FieldSpec | None,
          data: dict, taken: set[str], correcting: bool = False) -> FieldSpec | None:
    """The field a value belongs to: named in its clause, then in everything before it, then the
    question just asked, then the first still empty field of that type, then (when the caller says
    they are correcting something) the only field of that type. A field whose person contradicts
    the context ("我…" for a child's field) is never picked by default."""
    free = [c for c in candidates if c.field not in taken]
    if not free:
        return None
    ranked = sorted(free, key=lambda c: (-score(c, ctx_clause), -score(c, ctx_full), c is not asked,
                                         data.get(c.field) is not None, candidates.index(c)))
    best = ranked[0]
    if score(best, ctx_clause) > 0 or score(best, ctx_full) > 0:
        return best
    free = [c for c in free if score(c, ctx_clause) >= 0 and score(c, ctx_full) >= 0]
    if asked is not None and asked in free:
        return asked
    unfilled = [c for c in free if data.get(c.field) is None]
    if unfilled:
        return unfilled[0]
    if correcting and len(candidates) == 1 and free:
        return free[0]
    return None


def _said_again(raw: str, candidates: list[FieldSpec], text: str, start: int, asked: FieldSpec | None,
                data: dict) -> bool:
    """An ID number already recorded, said again while no ID field is asked and without naming whose: it is that
    person's, never someone else's (two people never share one)."""
    if asked is not None and asked.type == "id_number":
        return False
    if any(score(c, _clause_before(text, start)) > 0 or score(c, text[:start]) > 0 for c in candidates):
        return False
    return raw.upper() in {str(data.get(c.field) or "").upper() for c in candidates}


def _typed_mentions(text: str, form: ApplicationForm, data: dict, asked: FieldSpec | None,
                    taken: set[str], today: date, busy: list[tuple[int, int]]) -> list[_Mention]:
    correcting = bool(_CORRECTION.search(text))
    spans: list[tuple[int, int, str, str]] = []   # start, end, type, raw
    for m in validators.ID_PATTERN.finditer(text):
        spans.append((m.start(), m.end(), "id_number", m.group(0)))

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _, _ in spans)

    for rx in (validators.MOBILE_PATTERN, validators.LANDLINE_PATTERN):
        for m in rx.finditer(text):
            if free(m.start(), m.end()):
                spans.append((m.start(), m.end(), "phone", m.group(0)))
    for d in validators.find_dates(text, today=today):
        if d.relative and not (asked is not None and asked.type == "date") and not re.search(r"出生|生的|生日", text):
            continue  # "今天天气怎么样" is not a date answer
        if free(d.start, d.end) and not re.match(r"\d", text[d.end:d.end + 1]):
            spans.append((d.start, d.end, "date", text[d.start:d.end]))
    mentions = []
    for start, end, kind, raw in sorted(spans):
        if any(start < e and end > s for s, e in busy):
            continue
        candidates = [f for f in form.fields if f.type == kind]
        if kind == "id_number" and _said_again(raw, candidates, text, start, asked, data):
            continue
        target = _pick(candidates, _clause_before(text, start), text[:start], asked, data, taken, correcting)
        if target is not None:
            taken.add(target.field)
            mentions.append(_Mention(target.field, raw, start, end))
    return mentions


_NAME_CUE = re.compile(r"(?:叫做|叫|名叫|名字(?:是|叫)?|姓名(?:是|为)?)[:：]?\s*(?P<val>[\u4e00-\u9fa5·•・.]{2,25})")
_NAME_STOP = re.compile(r"改成|改为|身份证|电话|手机|号码|出生|生日|地址|住址|性别|民族|今年|联系|是|的|，|今天|昨天")


def _name_mentions(text: str, form: ApplicationForm, data: dict, asked: FieldSpec | None,
                   taken: set[str], busy: list[tuple[int, int]]) -> list[_Mention]:
    mentions = []
    names = [f for f in form.fields if f.type == "name"]
    if not names:
        return mentions
    for m in _NAME_CUE.finditer(text):
        if any(m.start() < e and m.end() > s for s, e in busy):
            continue
        value = m.group("val")
        stop = _NAME_STOP.search(value)
        if stop:
            value = value[:stop.start()]
        if len(value) < 2:
            continue
        clause = _clause_before(text, m.start())
        ask = asked if asked is not None and asked.type == "name" else None
        target = _pick(names, clause, clause, ask, data, taken)
        if target is None:
            continue
        taken.add(target.field)
        mentions.append(_Mention(target.field, value, m.start(), m.start("val") + len(value)))
    return mentions


def _clauses(text: str):
    """Each clause of text with its start and end offsets."""
    pos = 0
    for clause in _CLAUSE.split(text):
        start = text.find(clause, pos)
        pos = start + len(clause)
        yield clause, start, pos


def _labelled_mentions(text: str, form: ApplicationForm, data: dict, asked: FieldSpec | None,
                       taken: set[str]) -> list[_Mention]:
    """Clauses that start with a field's label: "出生医院是市中心医院", "地址：…", "性别女"."""
    mentions = []
    for clause, start, pos in _clauses(text):
        body = re.sub(r"^(?:我的|我|他的|她的|孩子的|孩子)", "", clause)
        for spec in form.fields:
            if spec.field in taken or spec.type in ("id_number", "phone", "date", "name"):
                continue
            for key in label_keywords(spec):
                if body.startswith(key):
                    value = re.sub(r"^(?:是|为|在|选|选择)?[:：]?", "", body[len(key):]).strip()
                    if value:
                        taken.add(spec.field)
                        mentions.append(_Mention(spec.field, value, start, pos))
                    break
            if spec.field in taken:
                break
    return mentions


def _choice_mentions(text: str, form: ApplicationForm, data: dict, asked: FieldSpec | None,
                     taken: set[str]) -> list[_Mention]:
    """Options of 2+ characters named anywhere fill their (still empty) choice field."""
    mentions = []
    for clause, start, pos in _clauses(text):
        for spec in form.fields:
            if spec.type != "choice" or spec.field in taken or spec is asked or data.get(spec.field) is not None:
                continue
            if not any(len(o) >= 2 and (o in clause or re.sub(r"[（(].*?[)）]", "", o) in clause) for o in spec.options):
                continue
            check = validators.match_choice(clause, spec.options)
            if check.ok:
                taken.add(spec.field)
                mentions.append(_Mention(spec.field, clause, start, pos))
    return mentions


def _correction(text: str, form: ApplicationForm) -> _Mention | None:
    """'X改成Y' / 'X应该是Y': the field named before the cue gets the value after it."""
    m = _CORRECT_TO.search(text)
    if not m:
        return None
    before = text[:m.start()]
    after = _CLAUSE.split(text[m.end():])[0].strip()
    if not after:
        return None
    scored = sorted(((score(f, before, terse=True), i, f) for i, f in enumerate(form.fields)),
                    key=lambda t: (-t[0], t[1]))
    if not scored or scored[0][0] <= 0:
        return None
    clauses = _CLAUSE.split(before)
    last = next((c for c in reversed(clauses) if c.strip()), "")
    start = before.rfind(last) if last else len(before)
    return _Mention(scored[0][2].field, after, start, m.end() + len(after))


def _residual(text: str, mentions: list[_Mention]) -> str:
    """What is left after removing every clause that carried a mention, minus filler words."""
    pos, kept = 0, []
    for clause in _CLAUSE.split(text):
        start = text.find(clause, pos)
        end = start + len(clause)
        pos = end
        if any(m.start < end and m.end > start for m in mentions):
            continue
        kept.append(clause)
    return "，".join(c for c in kept if c.strip())


def _stated_age_or_birth(text: str, today: date) -> tuple[int | None, date | None]:
    age = None
    m = re.search(r"(?<![0-9])(\d{1,3})\s*周?岁", validators.cn_numerals_to_digits(text))
    if m:
        age = int(m.group(1))
    birth = None
    for d in validators.find_dates(text, today=today):
        near = text[max(0, d.start - 6):d.start] + "|" + text[d.end:d.end + 4]
        if re.search(r"出生|生日|生于|生的", near) and d.year:
            try:
                birth = date(d.year, d.month, d.day)
            except ValueError:
                pass
    return age, birth


def interpret(text: str, form: ApplicationForm, data: dict, asked: str | None, *, intent: str | None = None,
              confidence: float = 0.0, today: date | None = None) -> Outcome:
    """What this utterance means for the form (see module docstring)."""
    today = today or validators.today_local()
    form = form.open_fields(data)   # fields an earlier answer rules out cannot be filled
    raw = normalize(text or "")
    compact = re.sub(r"(?<=\d)[\s\-－](?=\d)", "", raw)
    out = Outcome()
    at_summary = asked == CONFIRM
    asked_spec = None if at_summary else form.get(asked or "")
    intent = intent or ""

    # A button payload ("/choose_option{...}") is an explicit request, never a value for the field.
    if raw.startswith("/") and intent in CONTROL_INTENTS | OTHER_INTENTS:
        out.interrupt = True
        return out

    if intent in ("pause_application", "cancel_application", "request_human", "check_status") \
            and confidence >= 0.7 and not re.search(r"\d{4}", compact):
        out.interrupt = True
        return out

    if intent == "resume_application" and confidence >= 0.7 and not re.search(r"\d{4}", compact):
        out.repeat = True
        return out

    mentions: list[_Mention] = []
    taken: set[str] = set()
    fix = _correction(compact, form)
    if fix is not None:
        mentions.append(fix)
        taken.add(fix.field)
    busy = [(m.start, m.end) for m in mentions]
    mentions += _typed_mentions(compact, form, data, asked_spec, taken, today, busy)
    busy = [(m.start, m.end) for m in mentions]
    mentions += _name_mentions(compact, form, data, asked_spec, taken, busy)
    mentions += _labelled_mentions(compact, form, data, asked_spec, taken)
    mentions += _choice_mentions(compact, form, data, asked_spec, taken)

    residual = _residual(compact, mentions)
    if asked_spec is not None and asked_spec.field not in taken:
        leftover = _FILLER.sub("", residual)
        if mentions:  # words that only named the field being corrected are not an answer
            for pattern in list(TYPE_WORDS.values()) + [p for _, p in ROLE_WORDS]:
                leftover = re.sub(pattern, "", leftover)
        if residual and (leftover or not mentions):
            if not asked_spec.required and _SKIP.match(validators.clean(residual)):
                mentions.append(_Mention(asked_spec.field, "", 0, 0))
            elif asked_spec.type in ("text", "address") and looks_like_question(residual, strict=True):
                pass
            else:
                mentions.append(_Mention(asked_spec.field, residual, 0, len(compact)))

    for m in mentions:
        spec = form.get(m.field)
        check = validators.Check(True, "") if m.raw == "" and not spec.required else spec.validate(m.raw, today=today)
        if check.ok:
            if data.get(m.field) != check.value:
                out.updates[m.field] = check.value
        else:
            out.errors[m.field] = check.error

    if asked_spec is not None and asked_spec.field in out.errors and residual:
        _absorb_address(out, form, data, residual, asked_spec)
    _check_consistency(out, form, data, compact, today)
    ruled = form.ruled_out({**data, **out.updates})   # e.g. "改成网点领取，地址是…" in one breath
    for name in ruled:
        out.updates.pop(name, None)
        out.errors.pop(name, None)
    for name in out.updates:
        if data.get(name) not in (None, ""):
            out.corrected.append(name)

    answered = bool(out.updates) or any(m.field in out.errors for m in mentions if m.field != (asked or ""))
    if at_summary:
        if out.updates or out.errors:
            return out
        if intent in ("affirm", "confirm_application") or _AFFIRM.match(validators.clean(raw)):
            out.confirmed = True
        elif intent == "deny" or _EDIT.search(raw):
            out.edit_requested = True
        elif looks_like_question(raw, strict=False) or (intent in CONTROL_INTENTS | OTHER_INTENTS and confidence >= 0.5):
            out.interrupt = True
        else:
            out.unclear = True
        return out

    if not answered and intent == "confirm_application" and confidence >= 0.7 and asked_spec is not None:
        left = len(form.missing(data))
        out.errors[asked_spec.field] = f"申请表还有{left}项没有填写，填完后我会请您核对再提交。"
        return out
    if not answered:
        question = looks_like_question(raw, strict=asked_spec is not None and asked_spec.type in ("text", "address"))
        strong_intent = intent in CONTROL_INTENTS and confidence >= 0.5
        other_intent = intent in OTHER_INTENTS and confidence >= 0.8 and (
            asked_spec is None or asked_spec.type in ("id_number", "phone", "date", "choice"))
        if question or strong_intent or other_intent or not raw:
            out.errors.pop(asked or "", None)
            out.interrupt = bool(raw)
    return out


def _absorb_address(out: Outcome, form: ApplicationForm, data: dict, residual: str, asked: FieldSpec) -> None:
    """An unlabelled full address given for another question fills the (one) empty address field."""
    empty = [f for f in form.fields if f.type == "address" and f is not asked and data.get(f.field) is None
             and f.field not in out.updates]
    if len(empty) != 1 or asked.type == "address":
        return
    check = validators.validate_address(residual)
    if check.ok:
        out.updates[empty[0].field] = check.value
        del out.errors[asked.field]


def _check_consistency(out: Outcome, form: ApplicationForm, data: dict, text: str, today: date) -> None:
    """An ID number must agree with a birth date or age stated with it, and with the same person's fields."""
    age, birth = _stated_age_or_birth(text, today)
    for name, value in list(out.updates.items()):
        spec = form.get(name)
        if spec.type == "id_number" and (age is not None or birth is not None):
            birth_field_given = any(form.get(n).type == "date" for n in out.updates if n != name)
            reason = validators.check_id_consistency(
                value, age=age, birth_date=None if birth_field_given else birth, today=today)
            if reason:
                out.errors[name] = reason
                del out.updates[name]
    merged = {**{k: v for k, v in data.items() if v}, **out.updates}
    for id_field, reason in validators.cross_check(form.fields, merged, today=today).items():
        prefix = id_field.removesuffix("id_number")
        for name in [n for n in out.updates if n.startswith(prefix)]:
            out.errors[name] = reason
            del out.updates[name]
