"""Validation of application form values: one module shared by the conversation and the API.

Each validator takes what a person typed or said and returns a Check: the canonical value
when it is acceptable, otherwise the reason in plain Chinese so the caller knows exactly
what to fix. Nothing here raises on bad input.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterable, Sequence
from zoneinfo import ZoneInfo

from nlu.textnorm import normalize

TZ = ZoneInfo("Asia/Shanghai")
FIELD_TYPES = ("name", "id_number", "phone", "date", "address", "choice", "text")


@dataclass(frozen=True)
class Check:
    ok: bool
    value: str | None = None
    error: str = ""


def _ok(value: str) -> Check:
    return Check(True, value)


def _fail(error: str) -> Check:
    return Check(False, None, error)


def today_local() -> date:
    return datetime.now(TZ).date()


def clean(text: str | None) -> str:
    """Normalised text with surrounding punctuation and filler removed."""
    text = normalize(text or "")
    return text.strip(" \t,，。.!！?？;；:：、~～\"'“”‘’")


# -- resident ID number (GB 11643-1999) -------------------------------------------------------
PROVINCES = {
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82", "83",
}
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
ID_PATTERN = re.compile(r"(?<![0-9A-Za-z])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def id_check_char(first17: str) -> str:
    return _CHECK_CHARS[sum(int(c) * w for c, w in zip(first17, _WEIGHTS)) % 11]


def id_birth_date(id_number: str) -> date | None:
    try:
        return date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except (ValueError, IndexError):
        return None


def id_gender(id_number: str) -> str:
    return "男" if int(id_number[16]) % 2 else "女"


def validate_id_number(raw: str | None, *, today: date | None = None) -> Check:
    today = today or today_local()
    text = clean(raw).upper()
    compact = re.sub(r"[\s\-－—_]", "", text)
    compact = re.sub(r"^(身份证(号码|号)?|号码)[是为:：]?", "", compact)
    if re.fullmatch(r"[0-9A-Z]{18}", compact) and not re.fullmatch(r"[0-9]{17}[0-9X]", compact):
        return _fail("身份证号码前17位只能是数字，最后一位是数字或X，请核对后重新告诉我。")
    digits = re.sub(r"[^0-9X]", "", compact)
    if not digits:
        return _fail("没有听到身份证号码，请提供18位居民身份证号码（最后一位可能是X）。")
    if len(digits) < 6 and re.search(f"[{_HAN}]", text):
        return _fail("没有听到身份证号码，请提供18位居民身份证号码（最后一位可能是X）。")
    if len(digits) == 15 and digits.isdigit():
        return _fail("这是15位的旧身份证号码，请提供现行18位居民身份证号码。")
    if len(digits) != 18:
        return _fail(f"身份证号码应为18位（最后一位可能是X），您提供的是{len(digits)}位，请核对后重新告诉我。")
    if not re.fullmatch(r"[0-9]{17}[0-9X]", digits):
        return _fail("身份证号码前17位只能是数字，最后一位是数字或X，请核对后重新告诉我。")
    if digits[:2] not in PROVINCES or digits[2:4] == "00":
        return _fail(f"身份证号码前6位地区码“{digits[:6]}”不是有效的行政区划代码，请核对前6位。")
    born = id_birth_date(digits)
    if born is None:
        return _fail(f"身份证号码第7到14位的出生日期“{digits[6:14]}”不是有效日期，请核对。")
    if born > today or born.year < 1900:
        return _fail(f"身份证号码中的出生日期{born.year}年{born.month}月{born.day}日不合理，请核对第7到14位。")
    if id_check_char(digits[:17]) != digits[17]:
        return _fail("身份证号码最后一位校验码不符，可能有数字输错了，请逐位核对后重新告诉我。")
    return _ok(digits)


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check_id_consistency(id_number: str, *, birth_date: date | None = None, age: int | None = None,
                         gender: str | None = None, today: date | None = None) -> str:
    """Empty string when consistent, else the reason (ID number assumed valid)."""
    today = today or today_local()
    born = id_birth_date(id_number)
    if born is None:
        return ""
    if birth_date is not None and birth_date != born:
        return (f"身份证号码中的出生日期是{born.year}年{born.month}月{born.day}日，与您说的"
                f"{birth_date.year}年{birth_date.month}月{birth_date.day}日不一致，请核对。")
    if age is not None and abs(age_on(born, today) - age) > 1:
        return f"按身份证号码计算年龄为{age_on(born, today)}周岁，与您说的{age}岁不一致，请核对。"
    if gender in ("男", "女") and id_gender(id_number) != gender:
        return f"身份证号码第17位表示性别为{id_gender(id_number)}，与您说的{gender}不一致，请核对。"
    return ""


# -- phone numbers ----------------------------------------------------------------------------------
MOBILE_PATTERN = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
LANDLINE_PATTERN = re.compile(r"(?<![0-9])0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}(?![0-9])")


def validate_phone(raw: str | None) -> Check:
    text = clean(raw)
    compact = re.sub(r"[\s\-－—()（）]", "", text)
    compact = re.sub(r"^(手机|电话|联系电话|手机号|号码)[号码]*[是为:：]?", "", compact)
    compact = re.sub(r"^\+?86(?=1[0-9]{10}$)", "", compact)
    if not compact:
        return _fail("没有听到电话号码，请提供11位手机号码。")
    if re.fullmatch(r"1[3-9][0-9]{9}", compact):
        return _ok(compact)
    if re.fullmatch(r"0[1-9][0-9]{1,2}[2-9][0-9]{6,7}", compact) and 10 <= len(compact) <= 12:
        return _ok(compact)
    digits = re.sub(r"[^0-9]", "", compact)
    if digits != compact:
        return _fail("电话号码只能包含数字，请提供11位手机号码，如13900001111。")
    if digits.startswith("1"):
        if len(digits) != 11:
            return _fail(f"手机号码应为11位，您提供的是{len(digits)}位，请核对后重新告诉我。")
        return _fail("手机号码第二位应为3到9之间的数字，请核对后重新告诉我。")
    if digits.startswith("0"):
        return _fail("固定电话格式不正确，应为区号加7到8位号码，如0471-6612345；也可以提供11位手机号码。")
    return _fail("请提供11位手机号码（以1开头），或带区号的固定电话。")


# -- dates --------------------------------------------------------------------------------------------
_CN_DIGITS = {"〇": 0, "零": 0, "○": 0, "O": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_NUM = re.compile(r"[〇零○一二两三四五六七八九十]+(?=[年月日号岁周])")


def _cn_to_int(token: str) -> int | None:
    if "十" not in token:
        if all(c in _CN_DIGITS for c in token):
            return int("".join(str(_CN_DIGITS[c]) for c in token))
        return None
    head, _, tail = token.partition("十")
    if len(head) > 1 or len(tail) > 1 or (head and head not in _CN_DIGITS) or (tail and tail not in _CN_DIGITS):
        return None
    return (_CN_DIGITS[head] if head else 1) * 10 + (_CN_DIGITS[tail] if tail else 0)


def cn_numerals_to_digits(text: str) -> str:
    """二〇二四年三月五日 -> 2024年3月5日 (only numbers followed by a date/age unit)."""
    def repl(m: re.Match) -> str:
        value = _cn_to_int(m.group(0))
        return m.group(0) if value is None else str(value)
    return _CN_NUM.sub(repl, text)


_FULL_DATE = re.compile(r"(?<![0-9])(\d{4})\s*(?:年|[./\-])\s*(\d{1,2})\s*(?:月|[./\-])\s*(\d{1,2})\s*(?:日|号)?")
_COMPACT_DATE = re.compile(r"(?<![0-9])((?:19|20)\d{2})(\d{2})(\d{2})(?![0-9])")
_MONTH_DAY = re.compile(r"(?<![0-9年./\-])(\d{1,2})\s*月\s*(\d{1,2})\s*(?:日|号)")
_YEAR_MONTH = re.compile(r"(?<![0-9])(\d{4})\s*年\s*(\d{1,2})\s*月(?!\s*\d)")
_RELATIVE = {"今天": 0, "今日": 0, "昨天": 1, "昨日": 1, "前天": 2, "大前天": 3}


@dataclass(frozen=True)
class DateMention:
    year: int | None
    month: int
    day: int
    start: int
    end: int
    relative: bool = False   # 今天 / 昨天 / 前天


def find_dates(text: str, *, today: date | None = None) -> list[DateMention]:
    """All date mentions in text, in order (year None when the caller left it out)."""
    today = today or today_local()
    text = cn_numerals_to_digits(normalize(text or ""))
    found: list[DateMention] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for rx, has_year in ((_FULL_DATE, True), (_COMPACT_DATE, True), (_MONTH_DAY, False)):
        for m in rx.finditer(text):
            if not free(m.start(), m.end()):
                continue
            if rx is _COMPACT_DATE and ID_PATTERN.search(text[max(0, m.start() - 10): m.end() + 8]):
                continue  # digits inside an ID number
            nums = [int(g) for g in m.groups()]
            found.append(DateMention(nums[0] if has_year else None, nums[-2], nums[-1], m.start(), m.end()))
            taken.append((m.start(), m.end()))
    for word, back in sorted(_RELATIVE.items(), key=lambda kv: -len(kv[0])):
        idx = text.find(word)
        if idx >= 0 and free(idx, idx + len(word)):
            d = today - timedelta(days=back)
            found.append(DateMention(d.year, d.month, d.day, idx, idx + len(word), relative=True))
            taken.append((idx, idx + len(word)))
    return sorted(found, key=lambda m: m.start)


def _date_error(year: int, month: int, day: int) -> str:
    if not 1 <= month <= 12:
        return f"没有{month}月，月份应在1到12之间，请核对。"
    try:
        date(year, month, 1)
    except ValueError:
        return f"{year}年不是有效年份，请核对。"
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return f"{year}年{month}月只有{last}天，没有{day}日，请核对。"


def validate_date(raw: str | None, *, past_only: bool = True, today: date | None = None,
                  earliest_year: int = 1900) -> Check:
    today = today or today_local()
    text = clean(raw)
    if not text:
        return _fail("没有听到日期，请告诉我具体日期，如2024年3月5日。")
    mentions = find_dates(text, today=today)
    if not mentions:
        if _YEAR_MONTH.search(cn_numerals_to_digits(text)):
            return _fail("请告诉我具体到哪一天，如2024年3月5日。")
        return _fail("没有听懂这个日期，请按“2024年3月5日”或“3月5号”的方式告诉我。")
    m = mentions[0]
    year = m.year
    if year is None:
        year = today.year
        try:
            if past_only and date(year, m.month, m.day) > today:
                year -= 1
        except ValueError:
            pass
    try:
        value = date(year, m.month, m.day)
    except ValueError:
        return _fail(_date_error(year, m.month, m.day))
    if value.year < earliest_year:
        return _fail(f"{value.year}年太早了，请核对年份。")
    if past_only and value > today:
        return _fail(f"{value.year}年{value.month}月{value.day}日还没有到，这个日期不能晚于今天，请核对。")
    if not past_only and value.year > today.year + 5:
        return _fail(f"{value.year}年太远了，请核对年份。")
    return _ok(value.isoformat())


# -- names --------------------------------------------------------------------------------------------
_DOTS = re.compile(r"[·•・‧∙⋅．.]")
_HAN = "\u4e00-\u9fa5\u3400-\u4dbf"
_NAME = re.compile(rf"[{_HAN}]{{2,8}}|[{_HAN}]{{1,12}}(?:·[{_HAN}]{{1,12}}){{1,3}}")
_NAME_PREFIX = re.compile(
    r"^(?:(?:我爱人|我老公|我老婆|孩子(?:他|她)?(?:爸爸|妈妈|爸|妈)|爱人|我|本人|他|她|孩子|宝宝|小孩|新生儿|申请人|"
    r"经办人|经营者|持卡人|退休人员|代办人|法定代表人|法人|负责人)(?:的)?(?:姓名|名字)?(?:叫|名叫|是|为)?|"
    r"(?:叫|名叫|名字叫|名字是|姓名是|姓名|名字|是))(?=[\u4e00-\u9fa5]{2})")
# Words that are plainly not a person's name (greetings, answers, service words).
_NOT_NAME_WORDS = (
    "你好", "您好", "谢谢", "好的", "是的", "不是", "不对", "对的", "没有", "知道", "可以", "不用", "不要", "再见",
    "确认", "提交", "取消", "暂停", "继续", "跳过", "人工", "客服", "电话", "号码", "身份证", "地址", "日期", "材料",
    "办理", "申请", "登记", "证明", "手续", "户口", "社保", "医保", "公积金", "一件事", "政府", "公司", "有限", "银行",
    "医院", "街道", "怎么", "什么", "哪里", "多少", "多久", "为什么", "不清楚", "随便", "问题", "帮我", "机器人",
)


def validate_name(raw: str | None) -> Check:
    text = clean(raw)
    text = _DOTS.sub("·", text)
    text = re.sub(r"\s+", "", text)
    text = _NAME_PREFIX.sub("", text).strip("·")
    if not text:
        return _fail("没有听到姓名，请告诉我姓名，如“张三”。")
    if re.search(r"[0-9]", text):
        return _fail("姓名中不应有数字，请告诉我身份证上的姓名。")
    if re.search(r"[A-Za-z]", text):
        return _fail("请用汉字告诉我与身份证一致的姓名；外籍人士请到窗口办理。")
    if re.search(rf"[^{_HAN}·]", text):
        return _fail("姓名中只能有汉字，少数民族姓名可用“·”分隔，如“阿依古丽·买买提”。")
    if any(word in text for word in _NOT_NAME_WORDS):
        return _fail(f"“{text}”看起来不是姓名，请告诉我与身份证一致的姓名，如“张三”。")
    if len(text) == 1:
        return _fail("请告诉我完整的姓名（姓和名）。")
    if not _NAME.fullmatch(text):
        if "·" not in text and len(text) > 8:
            return _fail("姓名过长。少数民族姓名请用“·”分隔各部分，如“巴特尔·那顺”。")
        return _fail("姓名格式不正确，请告诉我与身份证一致的姓名，少数民族姓名可用“·”分隔。")
    return _ok(text)


# -- addresses ----------------------------------------------------------------------------------------
_ADDRESS_AREA = re.compile(r"省|自治区|市|盟|区|县|旗|镇|乡|苏木|街道|嘎查|村")
_ADDRESS_DETAIL = re.compile(r"路|街|道|巷|弄|胡同|号|室|栋|幢|座|单元|楼|小区|花园|家园|大厦|院|村|组|社区|嘎查|广场|园区|户")


def validate_address(raw: str | None) -> Check:
    text = re.sub(r"^(地址|住址|住所|经营场所|邮寄地址)(是|为|在)?[:：]?", "", clean(raw))
    text = re.sub(r"^(在|是)", "", text)
    if not text:
        return _fail("没有听到地址，请告诉我详细地址。")
    if not re.search(f"[{_HAN}]", text):
        return _fail("请用中文告诉我详细地址，如“呼和浩特市新城区XX路XX号XX小区X号楼X单元X室”。")
    if len(text) > 120:
        return _fail("地址过长，请精简到120字以内。")
    if len(text) < 6 or not _ADDRESS_AREA.search(text) or not _ADDRESS_DETAIL.search(text):
        return _fail("地址请写详细一些，包括市、旗县区和街道门牌号，如“呼和浩特市新城区XX路XX号XX小区X号楼X单元X室”。")
    return _ok(text)


# -- choices and free text --------------------------------------------------------------------------
_SYNONYMS = (
    ("爸爸", "父亲"), ("爸", "父亲"), ("妈妈", "母亲"), ("妈", "母亲"), ("男孩", "男"), ("男宝", "男"), ("儿子", "男"),
    ("女孩", "女"), ("女宝", "女"), ("女儿", "女"), ("工行", "中国工商银行"), ("工商银行", "中国工商银行"),
    ("农行", "中国农业银行"), ("农业银行", "中国农业银行"), ("中行", "中国银行"), ("建行", "中国建设银行"),
    ("建设银行", "中国建设银行"), ("邮储", "中国邮政储蓄银行"), ("邮政", "中国邮政储蓄银行"),
    ("农商", "内蒙古农村商业银行"), ("信用社", "内蒙古农村商业银行"), ("寄到家", "邮寄"),
    ("快递", "邮寄"), ("自取", "现场领取"), ("自己去拿", "现场领取"), ("自己领", "现场领取"),
)
_NEGATION = re.compile(r"不|没|无|暂不|先不")
# How callers say an option in their own words ("寄到家里", "我自己", "丢了要补", "头一回办"): an answer naming
# exactly one concept that exactly one option names picks it. Only when nothing matched literally, never when
# the answer is negated ("不寄了" must not pick the mailing option).
_CONCEPTS = {
    "mail": re.compile(r"寄|快递|送达|送到家|到家"),
    "pickup": re.compile(r"领取|自取|现场|窗口|自己去?(拿|领|取)|去(拿|领|取)"),
    "self": re.compile(r"本人|我自己|自己(办|来)|^自己$"),
    "lost": re.compile(r"遗失|丢|找不到|补领|补办"),
    "damaged": re.compile(r"损坏|损毁|坏了|破了|磨损"),
    "first": re.compile(r"首次|第一次|头一(次|回)|初次|新办|从来没办过"),
    "expired": re.compile(r"期满|到期|过期"),
}
_ORDINALS = {"1": 0, "一": 0, "2": 1, "二": 1, "3": 2, "三": 2, "4": 3, "四": 3, "5": 4, "五": 4, "6": 5, "六": 5}


def _by_concept(text: str, options: Sequence[str]) -> list[str]:
    said = {name for name, pattern in _CONCEPTS.items() if pattern.search(text)}
    if len(said) != 1:
        return []
    [concept] = said
    named = [o for o in options if _CONCEPTS[concept].search(o)]
    return named if len(named) == 1 else []


def match_choice(raw: str | None, options: Sequence[str]) -> Check:
    text = clean(raw)
    hint = f"请从以下选项中选择一个：{'、'.join(options)}。"
    if not text:
        return _fail(hint)
    for option in options:
        if text == option:
            return _ok(option)
    m = re.fullmatch(r"(?:第)?([1-6一二三四五六])(?:个|项|种|号)?", text)
    if m and _ORDINALS[m.group(1)] < len(options):
        return _ok(options[_ORDINALS[m.group(1)]])
    expanded = text
    for word, canon in _SYNONYMS:
        if word in expanded and canon not in expanded:
            expanded = expanded.replace(word, canon)
    negative = [o for o in options if re.match(r"暂不|不|无|没有", o)]
    if _NEGATION.search(text) and len(negative) == 1 and not any(
            o in text for o in options if o not in negative and not _NEGATION.search(o)
            and not re.search(rf"(不|没|无){re.escape(o)}", text)):
        return _ok(negative[0])
    hits = []
    for option in options:
        core = re.sub(r"[（(].*?[)）]", "", option)
        if option in expanded or (core and core in expanded):
            if re.search(rf"(不|没|无|暂不){re.escape(core)}", expanded) and option not in negative:
                continue
            hits.append(option)
    if not hits:
        hits = [o for o in options if len(expanded) >= 2 and expanded in o]
    if not hits and not _NEGATION.search(text):
        hits = _by_concept(text, options)
    # a longer option containing a shorter one wins (e.g. 暂不开通 over 开通)
    hits = [h for h in hits if not any(h != o and h in o for o in hits)]
    if len(hits) == 1:
        return _ok(hits[0])
    if len(hits) > 1:
        return _fail(f"您提到了多个选项，请只选择一个：{'、'.join(hits)}。")
    return _fail(f"“{text[:20]}”不在可选范围内。" + hint)


def validate_text(raw: str | None, *, max_len: int = 200) -> Check:
    text = clean(raw)
    if not text or not re.search(rf"[{_HAN}0-9A-Za-z]", text):
        return _fail("没有听到内容，请再说一遍。")
    if len(text) > max_len:
        return _fail(f"内容过长，请精简到{max_len}字以内。")
    return _ok(text)


# -- one entry point per field type -------------------------------------------------------------------
def past_only(label: str) -> bool:
    """Dates are in the past (births, start of work) unless the label asks for a planned date."""
    return not re.search(r"预约|拟|计划|期望|预计", label or "")


def validate_value(field_type: str, raw: str | None, *, options: Sequence[str] = (), label: str = "",
                   today: date | None = None) -> Check:
    if field_type == "id_number":
        return validate_id_number(raw, today=today)
    if field_type == "phone":
        return validate_phone(raw)
    if field_type == "date":
        return validate_date(raw, past_only=past_only(label), today=today)
    if field_type == "name":
        return validate_name(raw)
    if field_type == "address":
        return validate_address(raw)
    if field_type == "choice":
        return match_choice(raw, options)
    return validate_text(raw)


def cross_check(fields: Iterable, data: dict[str, str], *, today: date | None = None) -> dict[str, str]:
    """Consistency between fields of one person: an ID number and that person's birth date or gender.

    Fields belong to one person when they share the prefix before the last '_' word group,
    e.g. applicant_id_number / applicant_birth_date / applicant_gender.
    """
    fields = list(fields)
    errors: dict[str, str] = {}
    for f in fields:
        if f.type != "id_number" or not data.get(f.field):
            continue
        prefix = f.field.removesuffix("id_number")
        for other in fields:
            if other is f or not other.field.startswith(prefix) or not data.get(other.field):
                continue
            value = data[other.field]
            reason = ""
            if other.type == "date" and "birth" in other.field:
                try:
                    reason = check_id_consistency(data[f.field], birth_date=date.fromisoformat(value), today=today)
                except ValueError:
                    continue
            elif other.type == "choice" and other.field.endswith("gender"):
                reason = check_id_consistency(data[f.field], gender=value, today=today)
            if reason:
                errors[f.field] = reason
    return errors
