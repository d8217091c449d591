"""Resident ID numbers (GB 11643-1999) and real names, checked locally before any remote call."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

# GB/T 2260 province-level codes (first two digits), including 71 (Taiwan), 81 (Hong Kong), 82 (Macao)
# and 83 (residence permits for people from those regions).
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82", "83",
    }
)  # fmt: skip
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_SHAPE = re.compile(r"^\d{17}[\dX]$")
_NAME = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+(?:[·][\u3400-\u4dbf\u4e00-\u9fff]+)*$")
_LATIN_NAME = re.compile(r"^[A-Za-z][A-Za-z .'-]{0,58}[A-Za-z]$")


class InvalidIdNumber(ValueError):
    """The ID number is malformed; ``reason`` says how, in words fit for the user."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def normalise_id_number(raw: str, today: dt.date | None = None) -> str:
    """Answer the canonical form (upper-case X) of a valid ID number, or raise :class:`InvalidIdNumber`."""
    if not isinstance(raw, str):
        raise InvalidIdNumber("身份证号码必须是文本")
    # Full-width digits typed on a phone become ASCII; anything else stays and is refused below.
    value = unicodedata.normalize("NFKC", raw).strip().upper()
    if len(value) != 18:
        raise InvalidIdNumber("身份证号码应为18位")
    if not _SHAPE.match(value):
        raise InvalidIdNumber("身份证号码只能由数字和末位X组成")
    if value[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber("身份证号码的地区代码不存在")
    try:
        birth = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise InvalidIdNumber("身份证号码中的出生日期不存在") from None
    today = today or dt.date.today()
    if birth > today or birth.year < 1800:
        raise InvalidIdNumber("身份证号码中的出生日期不合理")
    if check_digit(value[:17]) != value[17]:
        raise InvalidIdNumber("身份证号码校验位不正确，请核对后重新输入")
    return value


def normalise_name(raw: str) -> str:
    """Answer the canonical form of a real name (Chinese, with ``·`` for some names, or Latin), or raise ValueError."""
    if not isinstance(raw, str):
        raise ValueError("姓名必须是文本")
    # People type the middle dot of minority names in several ways; store the standard one.
    value = unicodedata.normalize("NFKC", raw).strip()
    for look_alike in ("•", "・", "．", "‧"):
        value = value.replace(look_alike, "·")
    if not 2 <= len(value) <= 60:
        raise ValueError("姓名长度应为2到60个字符")
    if not (_NAME.match(value) or _LATIN_NAME.match(value)):
        raise ValueError("姓名只能包含汉字、间隔号·或英文字母")
    return value
