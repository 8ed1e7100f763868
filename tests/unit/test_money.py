"""ISO 4217 minor units (shared.money) and where Babel may be needed."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from shared.money import (
    InvalidAmount,
    UnknownCurrency,
    check_currency,
    check_locale,
    exponent,
    format_money,
    to_major,
    to_minor,
)


@pytest.mark.parametrize(
    ("currency", "digits"),
    [("JPY", 0), ("KRW", 0), ("EUR", 2), ("USD", 2), ("KWD", 3), ("BHD", 3), ("TND", 3)],
)
def test_exponents_come_from_iso_4217_data(currency: str, digits: int) -> None:
    assert exponent(currency) == digits


@pytest.mark.parametrize("code", ["XXX", "XTS", "XAU", "DEM", "ZZZ", "eur", "EURO", "", None, 978])
def test_only_currencies_in_use_are_accepted(code: object) -> None:
    with pytest.raises(UnknownCurrency):
        check_currency(code)


def test_amounts_convert_both_ways_exactly() -> None:
    assert to_minor("1234.5", "EUR") == 123450
    assert to_minor("0.001", "KWD") == 1
    assert to_major(1, "KWD") == Decimal("0.001")
    assert to_major(1250, "JPY") == Decimal("1250")
    with pytest.raises(InvalidAmount, match="JPY has 0 decimals"):
        to_minor("1.5", "JPY")
    with pytest.raises(InvalidAmount):
        to_minor("1.5\n", "EUR")


def test_locales_are_normalised_and_unknown_ones_refused() -> None:
    assert check_locale("de-DE") == "de_DE"
    assert check_locale("ja_JP") == "ja_JP"
    for bad in ("zz_ZZ", "de\nDE", "../etc", 5):
        with pytest.raises(ValueError, match="locale"):
            check_locale(bad)
    # A stored locale CLDR does not know falls back to the default format.
    assert format_money(1250, "JPY", "zz_ZZ") == "1,250 JPY"


BLOCK_BABEL = """
import builtins
real = builtins.__import__
def guard(name, *args, **kwargs):
    if name == "babel" or name.startswith("babel."):
        raise ImportError("babel is not in this package")
    return real(name, *args, **kwargs)
builtins.__import__ = guard
import shared.orders, shared.orders.payments, shared.orders.webhooks, shared.notifications
import functions.aws.adapters.dynamodb, functions.gcp.firestore_stores
import functions.azure.adapters.tables
"""


def test_the_image_packages_import_the_order_stores_without_babel() -> None:
    # Babel ships with the order functions only (the `orders` extra); the image functions'
    # store adapters import the order model, which must not need it until it formats money.
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_BABEL], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
