"""Money in each currency's minor unit: ISO 4217 exponents and locale formats from Babel (CLDR).

Amounts travel as integers in the currency's minor unit (``amount_minor``): 1999 EUR is 19.99,
1250 JPY is 1,250 yen, 1234 KWD is 1.234 dinars. The number of decimals comes from CLDR's
currency data (``babel.numbers.get_currency_precision``), never from a hard-coded 2. Only codes
that CLDR lists as legal tender somewhere today are accepted: funds, metals, test codes and
retired currencies (XXX, XAU, DEM) are refused instead of silently getting 2 decimals.

Babel is imported on first use: it ships with the order functions only (the ``orders`` extra),
and the image functions import the order model through their store adapters without calling it.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import cache

_CODE = re.compile(r"[A-Z]{3}")
# What Decimal accepts from a client: digits with an optional fraction, no sign or exponent.
_DECIMAL = re.compile(r"[0-9]{1,15}(\.[0-9]{1,15})?")
_LOCALE = re.compile(r"[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,3}")
# Without the customer's locale: English digits and the unambiguous ISO code ("1,250 JPY").
DEFAULT_LOCALE = "en"
_DEFAULT_PATTERN = "#,##0.00 ¤¤"  # a plain space keeps such emails ASCII


class UnknownCurrency(ValueError):
    """A currency code that is not ISO 4217 legal tender today."""


class InvalidAmount(ValueError):
    """An amount the currency cannot represent (too many decimals, negative, not a number)."""


@cache
def active_currencies() -> frozenset[str]:
    """ISO 4217 codes that some territory uses as legal tender today (CLDR)."""
    from babel.core import get_global

    territories = get_global("territory_currencies")
    return frozenset(
        code
        for currencies in territories.values()
        for code, _start, end, tender in currencies
        if end is None and tender
    )


def check_currency(code: object) -> str:
    """``code`` if it is an active ISO 4217 currency, else ``UnknownCurrency`` saying why."""
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise UnknownCurrency("currency must be an ISO 4217 code such as EUR")
    if code not in active_currencies():
        raise UnknownCurrency(f"currency {code} is not an ISO 4217 currency in use")
    return code


def exponent(currency: str) -> int:
    """The number of decimals of ``currency``'s minor unit (JPY 0, EUR 2, KWD 3)."""
    from babel.numbers import get_currency_precision

    return int(get_currency_precision(check_currency(currency)))


def to_minor(amount: object, currency: str) -> int:
    """A decimal amount in major units (``"12.50"``) as an integer of minor units (1250).

    Refuses more decimals than the currency has (``"12.5"`` JPY, ``"1.2345"`` KWD) rather than
    rounding a customer's price.
    """
    digits = exponent(currency)
    if not isinstance(amount, str) or not _DECIMAL.fullmatch(amount):
        raise InvalidAmount('must be a decimal string such as "12.50" (no sign or exponent)')
    _, _, fraction = amount.partition(".")
    if len(fraction.rstrip("0")) > digits:
        raise InvalidAmount(
            f"{currency} has {digits} decimal{'s' if digits != 1 else ''}: {amount!r} has more"
        )
    try:
        return int(Decimal(amount).scaleb(digits))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only plain numbers
        raise InvalidAmount(f"{amount!r} is not a number") from exc


def to_major(amount_minor: int, currency: str) -> Decimal:
    """Minor units as an exact decimal amount in major units (1250 JPY -> 1250, 1999 EUR ->
    19.99)."""
    return Decimal(amount_minor).scaleb(-exponent(currency))


def check_locale(value: object) -> str:
    """A CLDR locale identifier (``"de-DE"``, ``"ja_JP"``) normalised to ``de_DE``, or
    ``ValueError``."""
    if not isinstance(value, str) or not _LOCALE.fullmatch(value):
        raise ValueError("locale must be a BCP 47 / CLDR tag such as de-DE or ja_JP")
    from babel.core import Locale, UnknownLocaleError

    try:
        return str(Locale.parse(value.replace("-", "_")))
    except (UnknownLocaleError, ValueError) as exc:
        raise ValueError(f"locale {value!r} is not a locale with CLDR data") from exc


def format_money(amount_minor: int, currency: str, locale: str | None = None) -> str:
    """An amount for people: the customer's locale format when known (``de_DE``: "1.234,56 €"),
    else English digits with the ISO code ("1,234.56 EUR", "1,250 JPY", "1.234 KWD")."""
    from babel.numbers import format_currency

    value = to_major(amount_minor, currency)
    if locale:
        try:
            return str(format_currency(value, currency, locale=check_locale(locale)))
        except ValueError:
            pass  # a stored locale CLDR no longer knows: fall back to the default
    return str(format_currency(value, currency, format=_DEFAULT_PATTERN, locale=DEFAULT_LOCALE))
