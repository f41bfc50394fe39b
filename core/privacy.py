"""Masking of personal data (ID numbers, phone numbers, names) for logs and summaries."""
from __future__ import annotations

import re

# Numbers as callers type them: grouped with spaces or dashes ("1506 0219 9208 1545 27",
# "150627-19850101-071X", "139 4776 1207"), with a country code ("+86 139-4776-1208", "8613947761206"),
# or in full-width digits (normalised first).
_SEP = r"[ \t\-·.]?"
_ID = re.compile(r"(?<![0-9])[1-9](?:" + _SEP + r"\d){16}" + _SEP + r"[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<![0-9+])(?:\+?86" + _SEP + r")?1[3-9](?:" + _SEP + r"\d){9}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(0\d{2,3}[ \-]?)(\d{3,4})(\d{4})(?![0-9])")
_FULLWIDTH = str.maketrans("０１２３４５６７８９Ｘｘ＋－", "0123456789Xx+-")
# A name is only recognisable from what introduces it ("我叫张三", "姓名：乌力吉", "申请人是王芳"): 2-8 Chinese
# characters (or a Mongolian name with ·) up to a word that cannot be part of a name.
_NAME = re.compile(r"(?P<cue>(?:我叫|我的名字(?:是|叫)|名字(?:是|叫)|姓名(?:是|为|叫)?[:：]?|(?:申请人|联系人)(?:姓名)?(?:[是为叫][:：]?|[:：])"
                   r"|本人[:：])[ \t]*)"
                   r"(?P<name>[\u4e00-\u9fff·]{2,8}?)(?=[^\u4e00-\u9fff·]|$|想|要|办|来|去|的|了|在|是|我|电话|手机|身份)")


def mask_id_number(value: str) -> str:
    """1501**********1234 style: first 4 and last 4 kept."""
    value = value.strip()
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    value = value.strip()
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    return value[0] + "*" * (len(value) - 1)


def mask_text(text: str) -> str:
    """Mask ID and phone numbers anywhere in free text (logs, stored transcripts), in every way they are typed,
    and names where the text introduces them ("我叫张三" -> "我叫张*")."""
    text = text.translate(_FULLWIDTH)
    text = _ID.sub(lambda m: mask_id_number(_digits(m.group(0))), text)
    text = _MOBILE.sub(lambda m: mask_phone(_digits(m.group(0))[-11:]), text)
    text = _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(3), text)
    return _NAME.sub(lambda m: m.group("cue") + mask_name(m.group("name")), text)


def find_mobile(text: str) -> str | None:
    """The first mobile number in text, however typed ("+86 139-4776-1207", full-width), as 11 digits."""
    match = _MOBILE.search(text.translate(_FULLWIDTH))
    return _digits(match.group(0))[-11:] if match else None


def _digits(value: str) -> str:
    return re.sub(r"[^0-9Xx]", "", value)
