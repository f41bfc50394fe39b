"""Text normalisation between the voice line and the dialogue.

Recognised speech -> dialogue: Traditional -> Simplified and full-width -> half-width (nlu/textnorm, the
same as typed text), spoken digit strings (一三八一二三四五六七八 / 幺三八…) -> 13812345678 so ID, phone and
receipt numbers reach the form validators as digits, and Chinese quantities (二十六, 三百) -> Arabic.
Fixed phrases that merely contain a numeral (一件事, 一次告知, 万一, 十分) are left alone.

Dialogue -> speech: long digit strings are read back digit by digit in groups (幺三八，幺二三四，…),
so a caller can check a number, and 12345 is said 幺二三四五 as on the radio.
"""
from __future__ import annotations

import re

from nlu.textnorm import normalize

_DIGITS = {"零": 0, "〇": 0, "洞": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_BIG = {"万": 10_000, "亿": 100_000_000}
# A run of spoken digits, possibly in groups separated by pauses the recogniser wrote as commas or spaces.
_DIGIT_CHARS = "零〇洞一幺二三四五六七八九"
_DIGIT_RUN = re.compile(rf"[{_DIGIT_CHARS}0-9](?:[{_DIGIT_CHARS}0-9]|[ ,，、-](?=[{_DIGIT_CHARS}0-9]))+"
                        r"(?:[xX叉](?![a-wyzA-WYZ]))?")
_QUANTITY = re.compile(r"[零〇一二两三四五六七八九十百千万亿]+")


def _spoken_digits(match: re.Match) -> str:
    raw = match.group(0)
    chars = [c for c in raw if c not in " ,，、-"]
    if sum(c in _DIGIT_CHARS for c in chars) == 0:  # Arabic digits only: join groups of a long number
        digits = "".join(chars)
        return digits.upper() if len(digits.rstrip("xX")) >= 7 else raw
    if len(chars) < 4:  # 一二 / 三五: too short to be a number someone reads out
        return raw
    out = "".join(str(_DIGITS[c]) if c in _DIGITS else ("X" if c in "xX叉" else c) for c in chars)
    return out


def _parse_quantity(text: str) -> int | None:
    """Value of a Chinese numeral with units (二十六, 三百零五, 一万二千), or None if it is not one."""
    total, section, number, last_unit = 0, 0, None, None
    for ch in text:
        if ch in _DIGITS and ch not in "幺洞":
            if number is not None:  # two digits in a row: not a quantity (三五 / 一五一十)
                return None
            number = _DIGITS[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if last_unit is not None and unit >= last_unit:
                return None
            section += (number if number is not None else 1) * unit
            number, last_unit = None, unit
        elif ch in _BIG:
            section += number or 0
            if section == 0:
                return None
            total += section * _BIG[ch]
            section, number, last_unit = 0, None, None
        else:
            return None
        if ch in "零〇":
            number, last_unit = None, None
    return total + section + (number or 0)


def _quantity(match: re.Match) -> str:
    raw = match.group(0)
    if len(raw) < 2 or raw[0] in "百千万亿零〇" or not any(c in "一二两三四五六七八九" for c in raw):
        return raw  # 十分 / 千万 / 万一 / 百分之: words, not numbers
    if not any(c in "十百千万亿" for c in raw):
        return raw
    value = _parse_quantity(raw)
    return raw if value is None else str(value)


def normalize_transcript(text: str) -> str:
    """What the dialogue sees of a recognised utterance."""
    text = normalize(text or "")
    text = _DIGIT_RUN.sub(_spoken_digits, text)
    text = _QUANTITY.sub(_quantity, text)
    return text.strip(" ，。,")


def dtmf_text(digits: str) -> str:
    """Digits keyed on the phone, as the dialogue would read them if typed (* stands for X in ID numbers)."""
    return digits.replace("*", "X")


_SAY_DIGIT = "零幺二三四五六七八九"
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])[0-9]{5,}[Xx]?(?![0-9A-Za-z])|(?<![A-Za-z])NM[0-9A-Z]{6,}")
_LETTERS = {c: c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _groups(digits: str) -> list[str]:
    if len(digits) <= 6:  # 12345, 110, a verification code: in one breath
        return [digits]
    if len(digits) == 11 and digits.startswith("1"):  # mobile phone 3-4-4
        return [digits[:3], digits[3:7], digits[7:]]
    if len(digits) == 18:  # ID number 6-8-4
        return [digits[:6], digits[6:14], digits[14:]]
    return [digits[i:i + 4] for i in range(0, len(digits), 4)]


def say_number(number: str) -> str:
    """幺三八，幺二三四，五六七八 for 13812345678; letters are spelled (NM2025… receipt numbers)."""
    spoken = []
    for group in _groups(number.upper()):
        spoken.append("".join(_SAY_DIGIT[int(c)] if c.isdigit() else ("叉" if c == "X" else c) for c in group))
    return "，".join(spoken)


def for_speech(text: str) -> str:
    """Text as a synthesiser should read it: long numbers digit by digit, symbols removed."""
    text = re.sub(r"(?<![0-9])(12345|110|119|120|12315|12369)(?![0-9])", lambda m: say_number(m.group(1)), text)
    text = _LONG_NUMBER.sub(lambda m: say_number(m.group(0)), text)
    text = re.sub(r"https?://\S+|/\S+\?\S+", "", text)
    text = re.sub(r"[•·*#>_`~|]+", " ", text)
    text = re.sub(r"\s*\n\s*", "。", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"([。，！？；])[。，！？；\s]+", r"\1", text)
    return text.strip(" 。") + ("。" if text.strip(" 。") else "")
