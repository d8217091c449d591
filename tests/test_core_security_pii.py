"""ID-number rules, name rules, encryption, blind index and masks."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core.security.idcard import InvalidIdNumber, check_digit, normalise_id_number, normalise_name
from app.core.security.pii import PiiCipher, mask_id_number, mask_name, mask_phone


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "440306199003071232", "440106198501011237", "440524188001010014"]
)
def test_valid_numbers(number: str) -> None:
    assert normalise_id_number(number) == number


def test_lowercase_x_and_full_width_digits_are_normalised() -> None:
    assert normalise_id_number("11010519491231002x") == "11010519491231002X"
    assert normalise_id_number("４４０３０６１９９００３０７１２３２") == "440306199003071232"


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("44030619900307123", "18位"),
        ("4403061990030712321", "18位"),
        ("440306199003071233", "校验位"),
        ("440306199002301231", "出生日期不存在"),  # 30 February
        ("440306209901011235", "不合理"),  # in the future
        ("990306199003071232", "地区代码"),
        ("44030619900307123Y", "数字"),
        ("4403061990\u200b03071232", "18位"),  # a zero-width space makes it 19 characters
        ("", "18位"),
    ],
)
def test_invalid_numbers_say_why(number: str, reason: str) -> None:
    with pytest.raises(InvalidIdNumber) as caught:
        normalise_id_number(number, today=dt.date(2026, 11, 21))
    assert reason in caught.value.reason


def test_future_birth_date_is_refused() -> None:
    first17 = "44030620300101123"
    with pytest.raises(InvalidIdNumber, match="不合理"):
        normalise_id_number(first17 + check_digit(first17), today=dt.date(2026, 11, 21))


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_property(first17: str) -> None:
    number = first17 + check_digit(first17)
    # The defining property of ISO 7064 MOD 11-2: the full weighted sum (X = 10) is 1 mod 11.
    values = [10 if c == "X" else int(c) for c in number]
    assert sum(v * pow(2, 17 - i, 11) for i, v in enumerate(values)) % 11 == 1


@pytest.mark.parametrize("name", ["李四", "王小明", "阿依古丽·买买提", "John Smith"])
def test_names_accepted(name: str) -> None:
    assert normalise_name(name) == name


@pytest.mark.parametrize("name", ["李", "张三😀", "a\x00b", "x" * 61, "12345", ""])
def test_names_refused(name: str) -> None:
    with pytest.raises(ValueError):
        normalise_name(name)


def test_encryption_round_trip_is_randomised_and_bound_to_its_field() -> None:
    cipher = PiiCipher("k" * 40)
    first, second = cipher.encrypt("李四", "user.real_name"), cipher.encrypt("李四", "user.real_name")
    assert first != second and "李四" not in first
    assert first.startswith("v1.")
    assert cipher.decrypt(first, "user.real_name") == "李四"
    with pytest.raises(Exception):  # noqa: B017 - AES-GCM refuses a ciphertext moved to another field
        cipher.decrypt(first, "user.id_number")


def test_rotated_key_still_decrypts_old_rows() -> None:
    old = PiiCipher("old-key" * 6, version=1)
    sealed = old.encrypt("440306199003071232", "user.id_number")
    new = PiiCipher("new-key" * 6, version=2, previous={1: "old-key" * 6})
    assert new.decrypt(sealed, "user.id_number") == "440306199003071232"
    assert new.encrypt("x", "f").startswith("v2.")


def test_blind_index_is_stable_and_keyed() -> None:
    a, b = PiiCipher("a" * 40), PiiCipher("b" * 40)
    assert a.blind_index("440306199003071232", "id") == a.blind_index("440306199003071232", "id")
    assert a.blind_index("440306199003071232", "id") != b.blind_index("440306199003071232", "id")


def test_masks() -> None:
    assert mask_name("李四") == "李*"
    assert mask_name("王小明") == "王**"
    assert mask_id_number("440306199003071232") == "4403**********1232"
    assert mask_phone("13812345678") == "138****5678"
