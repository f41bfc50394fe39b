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
    """Mask ID and phone numbers anywhere in free text (logs, stored transcripts), in every way they are typed."""
    text = text.translate(_FULLWIDTH)
    text = _ID.sub(lambda m: mask_id_number(_digits(m.group(0))), text)
    text = _MOBILE.sub(lambda m: mask_phone(_digits(m.group(0))[-11:]), text)
    return _LANDLINE.sub(lambda m: m.group(1) + "****" + m.group(3), text)


def find_mobile(text: str) -> str | None:
    """The first mobile number in text, however typed ("+86 139-4776-1207", full-width), as 11 digits."""
    match = _MOBILE.search(text.translate(_FULLWIDTH))
    return _digits(match.group(0))[-11:] if match else None


def _digits(value: str) -> str:
    return re.sub(r"[^0-9Xx]", "", value)
