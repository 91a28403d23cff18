from decimal import Decimal

import pytest

from patron.core.errors import ValidationError
from patron.core.money import Money, exponent, normalize_currency, to_major, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("19.99", "USD", 1999),
        (19.99, "USD", 1999),
        (0.1 + 0.2, "USD", 30),
        (150000, "IDR", 15000000),
        ("1500", "JPY", 1500),
        ("2.5", "JPY", 2),  # half-even
        ("3.5", "JPY", 4),
        ("1.2345", "KWD", 1234),
        ("88.8", "CNY", 8880),
    ],
)
def test_to_minor_is_exact(amount: object, currency: str, expected: int) -> None:
    assert to_minor(amount, currency) == expected


def test_to_major_round_trips() -> None:
    assert to_major(1999, "USD") == Decimal("19.99")
    assert to_major(1500, "JPY") == Decimal("1500")
    assert exponent("IDR") == 2


@pytest.mark.parametrize("bad", [None, True, "abc", "nan", "inf"])
def test_to_minor_rejects_non_numbers_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError) as exc:
        to_minor(bad, "USD", field="price")
    assert exc.value.field == "price"


def test_currency_codes_are_checked() -> None:
    assert normalize_currency("idr") == "IDR"
    with pytest.raises(ValidationError) as exc:
        normalize_currency("XYZ", field="properties.currency")
    assert exc.value.field == "properties.currency"


def test_money_refuses_mixed_currencies() -> None:
    assert Money(100, "USD") + Money(250, "USD") == Money(350, "USD")
    with pytest.raises(ValueError, match="cannot add IDR to USD"):
        Money(100, "USD") + Money(1, "IDR")
