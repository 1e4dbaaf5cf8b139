"""Human sizes, durations, counts and percentages: parsing and formatting.

Sizes use both decimal and binary units, written down once: ``KB`` = 1000 bytes,
``KiB`` = 1024 bytes (likewise ``MB``/``MiB`` and ``GB``/``GiB``). Every parser raises
``ValueError`` with a message that shows the expected form and the value it got, so the
callers (CLI converters, ini keys, markers) only have to say where the value came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

SIZE_UNITS: Mapping[str, int] = {
    "b": 1,
    "kb": 1000,
    "kib": 1024,
    "mb": 1000**2,
    "mib": 1024**2,
    "gb": 1000**3,
    "gib": 1024**3,
}

DURATION_UNITS: Mapping[str, float] = {
    "us": 1e-6,
    "\u00b5s": 1e-6,  # MICRO SIGN, what most keyboards type
    "\u03bcs": 1e-6,  # GREEK SMALL LETTER MU, what NFKC normalisation gives
    "ms": 1e-3,
    "s": 1.0,
}

SIZE_EXPECTED = "a size such as '512 B', '1.5 MiB' or '10 KB' (KB = 1000 bytes, KiB = 1024)"
DURATION_EXPECTED = "a duration such as '20 ms', '150 us' or '0.5 s' (a bare number is seconds)"
COUNT_EXPECTED = "a non-negative whole number such as '3' or '1_000'"
PERCENT_EXPECTED = "a percentage such as '10%' or '2.5 %'"

_QUANTITY = re.compile(r"(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>[^\d\s.]*)", re.ASCII)
_COUNT = re.compile(r"\d+(?:_\d+)*", re.ASCII)

_BINARY_UNITS = ("KiB", "MiB", "GiB")


def _error(expected: str, value: object) -> ValueError:
    return ValueError(f"expected {expected}, got {value!r}")


def _quantity(value: object, units: Mapping[str, float], bare: float, expected: str) -> float:
    """Parse a non-negative number with an optional unit into base units.

    ``bare`` is the factor of a number without a unit (numbers passed as int or float
    included); booleans are rejected although they are ints, since ``peak=True`` is
    always a mistake.
    """
    if isinstance(value, bool):
        raise _error(expected, value)
    if isinstance(value, (int, float)):
        number, factor = float(value), bare
    elif isinstance(value, str):
        match = _QUANTITY.fullmatch(value.strip())
        if match is None:
            raise _error(expected, value)
        unit = match["unit"].lower()
        if unit == "":
            factor = bare
        elif unit in units:
            factor = units[unit]
        else:
            raise _error(expected, value)
        number = float(match["number"])
    else:
        raise _error(expected, value)
    result = number * factor
    # A string of hundreds of digits parses to inf; it is as wrong as a NaN.
    if not math.isfinite(result) or result < 0:
        raise _error(expected, value)
    return result


def parse_size(value: str | int | float) -> int:
    """Return a size in bytes from ``512``, ``"512B"``, ``"1.5 MiB"``, ``"10 KB"``, ``"2gib"``.

    Units are case-insensitive and the space before them is optional; a bare number is
    bytes. Raises ``ValueError`` for negatives, NaN, empty strings, unknown units and
    booleans.
    """
    return round(_quantity(value, SIZE_UNITS, 1, SIZE_EXPECTED))


def parse_duration(value: str | int | float) -> float:
    """Return a duration in seconds from ``"20 ms"``, ``"150us"``, ``"150 µs"``, ``"0.5 s"``.

    A bare number (int, float or numeric string) is seconds. Raises ``ValueError`` for
    negatives, NaN, empty strings, unknown units and booleans.
    """
    return _quantity(value, DURATION_UNITS, 1.0, DURATION_EXPECTED)


def parse_count(value: str | int | float) -> int:
    """Return a non-negative integer from ``3``, ``3.0``, ``"3"`` or ``"1_000"``.

    Raises ``ValueError`` for negatives, booleans, floats with a fraction and strings
    that are not digits.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        count = value
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _COUNT.fullmatch(value.strip())
    ):
        count = int(value)
    else:
        raise _error(COUNT_EXPECTED, value)
    if count < 0:
        raise _error(COUNT_EXPECTED, value)
    return count


def parse_percent(value: str) -> float:
    """Return a fraction from a percentage: ``"10%"`` gives 0.1, ``"2.5 %"`` gives 0.025.

    The ``%`` sign is required: a bare ``10`` could mean 10 % or 1000 %. Raises
    ``ValueError`` for negatives and anything that is not a percentage string.
    """
    if not isinstance(value, str):
        raise _error(PERCENT_EXPECTED, value)
    text = value.strip()
    if not text.endswith("%"):
        raise _error(PERCENT_EXPECTED, value)
    match = _QUANTITY.fullmatch(text[:-1].strip())
    if match is None or match["unit"]:
        raise _error(PERCENT_EXPECTED, value)
    result = float(match["number"]) / 100
    if not math.isfinite(result):
        raise _error(PERCENT_EXPECTED, value)
    return result


def format_size(n: int | float) -> str:
    """Format bytes in binary units: ``"512 B"``, ``"1.5 KiB"``, ``"3.0 GiB"``, ``"-1.5 KiB"``.

    Bytes are whole numbers; larger units have one decimal.
    """
    if abs(round(n)) < 1024:
        return f"{round(n)} B"
    scaled = n / 1024
    unit = 0
    # Decide on the rounded figure, so 1023.96 KiB reads "1.0 MiB", not "1024.0 KiB".
    while abs(round(scaled, 1)) >= 1024 and unit < len(_BINARY_UNITS) - 1:
        scaled /= 1024
        unit += 1
    return f"{scaled:.1f} {_BINARY_UNITS[unit]}"


#: Each decimal unit with its binary sibling: a limit that is a whole number of the
#: first and not of the second was written in decimal units.
_DECIMAL_UNITS = (("GB", 1000**3, 1024**3), ("MB", 1000**2, 1024**2), ("KB", 1000, 1024))


def format_limit(n: int | float) -> str:
    """Format a size limit as it was most likely written: ``10 MB`` stays ``"10 MB"``
    (never ``"9.5 MiB"``); anything else as :func:`format_size`."""
    for unit, size, binary in _DECIMAL_UNITS:
        if n and n % size == 0 and n % binary != 0:
            return f"{round(n) // size} {unit}"
    return format_size(n)


def format_duration(seconds: float) -> str:
    """Format seconds for people: ``"850 us"``, ``"12.3 ms"``, ``"1.25 s"``."""
    magnitude = abs(seconds)
    # Decide on the rounded figure, so 999.7 us reads "1.0 ms", not "1000 us".
    if round(magnitude * 1e6) < 1000:
        return f"{seconds * 1e6:.0f} us"
    if round(magnitude * 1e3, 1) < 1000:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"
