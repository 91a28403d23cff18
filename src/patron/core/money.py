"""Money is an integer amount of minor units plus an ISO 4217 code. Never a float."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from patron.core.errors import ValidationError

# ISO 4217 minor-unit exponents. Anything not listed uses 2.
_EXPONENTS: dict[str, int] = {
    "BHD": 3, "BIF": 0, "CLF": 4, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0,
    "JOD": 3, "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0,
    "RWF": 0, "TND": 3, "UGX": 0, "UYI": 0, "UYW": 4, "VND": 0, "VUV": 0, "XAF": 0,
    "XOF": 0, "XPF": 0,
}  # fmt: skip

# Codes in active use (ISO 4217 list, abridged to currencies a store can sell in).
KNOWN_CURRENCIES: frozenset[str] = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD
    TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF XPF YER ZAR ZMW ZWL""".split()
)


def exponent(currency: str) -> int:
    """Number of minor-unit digits of `currency` (JPY 0, USD 2, KWD 3)."""
    return _EXPONENTS.get(currency, 2)


def normalize_currency(code: object, *, field: str = "currency") -> str:
    """Upper-case and check an ISO 4217 code; raise ValidationError naming `field`."""
    if not isinstance(code, str) or code.upper() not in KNOWN_CURRENCIES:
        raise ValidationError(
            f"{field} must be an ISO 4217 currency code, got {code!r}", field=field
        )
    return code.upper()


def to_minor(amount: object, currency: str, *, field: str = "amount") -> int:
    """Convert a major-unit amount (`"12.5"`, `12.5`, `12`) to integer minor units.

    Floats go through their shortest repr, so 19.99 becomes 1999, never 1998.
    Half-even rounding below the currency's precision.
    """
    if isinstance(amount, bool) or amount is None:
        raise ValidationError(f"{field} must be a number", field=field)
    try:
        value = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{field} must be a number, got {amount!r}", field=field) from None
    if not value.is_finite():
        raise ValidationError(f"{field} must be finite", field=field)
    scaled = value.scaleb(exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    return int(scaled)


def to_major(minor: int, currency: str) -> Decimal:
    """Integer minor units back to an exact Decimal in major units."""
    return Decimal(minor).scaleb(-exponent(currency))


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount + other.amount, self.currency)

    def __str__(self) -> str:
        return f"{to_major(self.amount, self.currency)} {self.currency}"
