"""Query-string parsing with the error behaviour of OpenFEC's argument layer.

Two kinds of failure exist there and both are reproduced:
- built-in field errors ("Not a valid integer.") are collected over all fields and
  reported together as an object keyed by location, field and (for lists) index;
- OpenFEC's own validators raise at once with a plain string message, so the first
  such field (in declaration order) wins even over earlier built-in errors.
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

DATE_ERROR = "Invalid date. Date must be formatted as MM/DD/YYYY or YYYY-MM-DD."
COMMITTEE_ID_ERROR = ("Invalid committee_id. A valid committee_id begins with a 'C' followed by "
                      "8 digits. For example: C00100005.")
CANDIDATE_ID_ERROR = ("Invalid candidate_id. A valid candidate_id begins with a 'P' or 'H' or 'S' "
                      "followed by 8 letters or numbers. For example: P00000034, S6MI00103, "
                      "H0LA01087.")
PERIOD_ODD_ERROR = ("Invalid two_year_transaction period. A valid two_year_transaction_period "
                    "should be an even year between 1976 and {cycle}.")
PERIOD_404_ERROR = ("two_year_transaction_period not found. Data exists for "
                    "two_year_transaction_periods between 1976 and {cycle}.")
KEYWORD_ERROR = "Invalid keyword. The keyword must be at least 3 characters in length."
IMAGE_NUMBER_ERROR = "Invalid image_number detected. A valid image_number is numeric only."
NATURAL_ERROR = "Must be greater than zero"
PER_PAGE_CAP_ERROR = "Parameter 'per_page' must be between 1 and {cap}"
SORT_ERROR = 'Cannot sort on value "{value}". Instead choose one of: "{options}"'

_TRUE = {"t", "T", "true", "True", "TRUE", "on", "On", "ON", "y", "Y", "yes", "Yes", "YES", "1"}
_FALSE = {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF", "n", "N", "no", "No", "NO", "0"}


class ApiError(Exception):
    """An error response of the Flask app: body {"message": ..., "status": ...}."""

    def __init__(self, message: str | dict[str, Any], status: int = 400) -> None:
        super().__init__(message if isinstance(message, str) else "invalid arguments")
        self.message = message
        self.status = status

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "status": self.status}


class FieldError(Exception):
    """A built-in (collected) field error."""


def current_cycle(today: date | None = None) -> int:
    year = (today or date.today()).year
    return year + year % 2


def to_int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FieldError("Not a valid integer.") from None


def to_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise FieldError("Not a valid number.") from None
    if math.isnan(number) or math.isinf(number):
        raise FieldError("Special numeric values (nan or infinity) are not permitted.")
    return number


def to_currency(value: str) -> float:
    try:
        number = decimal.Decimal(value.lstrip("$").replace(",", ""))
    except decimal.InvalidOperation:
        raise FieldError("Not a valid number.") from None
    if not number.is_finite():
        raise FieldError("Special numeric values (nan or infinity) are not permitted.")
    return float(number.quantize(decimal.Decimal("0.01")))


def to_bool(value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FieldError("Not a valid boolean.")


def natural(value: str) -> int:
    number = to_int(value)
    if number <= 0:
        raise ApiError(NATURAL_ERROR, 422)
    return number


def parse_date(value: str) -> str:
    """Both accepted spellings, returned as an ISO date (what the database compares)."""
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%m/%d/%Y"):
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ApiError(DATE_ERROR, 422)


def committee_id(value: str) -> str:
    upper = value.upper()
    bare = upper.lstrip("-")
    if len(bare) != 9 or not bare.startswith("C"):
        raise ApiError(COMMITTEE_ID_ERROR, 422)
    try:
        int(bare[1:])
    except ValueError:
        raise ApiError(COMMITTEE_ID_ERROR, 422) from None
    return upper


def candidate_id(value: str) -> str:
    upper = value.upper()
    bare = upper.lstrip("-")
    if len(bare) != 9 or bare[0] not in "PSH":
        raise ApiError(CANDIDATE_ID_ERROR, 422)
    return upper


def keyword(value: str) -> str:
    if len(value) < 3:
        raise ApiError(KEYWORD_ERROR, 422)
    return value


def image_number(value: str) -> str:
    try:
        number = int(value)
    except ValueError:
        raise ApiError(IMAGE_NUMBER_ERROR, 422) from None
    if number < 0:
        raise ApiError(IMAGE_NUMBER_ERROR, 422)
    return value


def period(value: str) -> int:
    year = to_int(value)
    cycle = current_cycle()
    if year % 2:
        raise ApiError(PERIOD_ODD_ERROR.format(cycle=cycle), 422)
    if year < 1976 or year > cycle:
        raise ApiError(PERIOD_404_ERROR.format(cycle=cycle), 404)
    return year


def upper(value: str) -> str:
    return value.upper()


def text(value: str) -> str:
    return value


def one_of(choices: Sequence[str], *, upper_case: bool = True) -> Callable[[str], str]:
    def convert(value: str) -> str:
        value = value.upper() if upper_case else value
        if value not in choices:
            raise FieldError(f"Must be one of: {', '.join(choices)}.")
        return value
    return convert


def sort_option(options: Sequence[str]) -> Callable[[str], str]:
    def convert(value: str) -> str:
        if value.lstrip("-") not in options:
            raise ApiError(SORT_ERROR.format(value=value, options='", "'.join(options)), 422)
        return value
    return convert


@dataclass(frozen=True)
class Field:
    name: str
    convert: Callable[[str], Any]
    many: bool = False
    default: Any = None
    has_default: bool = False


def arg(name: str, convert: Callable[[str], Any], *, many: bool = False, **default: Any) -> Field:
    """A query argument; pass default=... to give it a value when absent."""
    if "default" in default:
        return Field(name, convert, many, default["default"], True)
    return Field(name, convert, many)


def parse_args(fields: Sequence[Field], params: dict[str, list[str]]) -> dict[str, Any]:
    """Parse like webargs with unknown=EXCLUDE: unknown names are ignored, a repeated
    scalar takes its first value, absent fields take their default or stay absent."""
    out: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for spec in fields:
        raw = params.get(spec.name)
        if raw is None:
            if spec.has_default:
                out[spec.name] = spec.default
            continue
        if not spec.many:
            try:
                out[spec.name] = spec.convert(raw[0])
            except FieldError as exc:
                errors[spec.name] = [str(exc)]
            continue
        values, item_errors = [], {}
        for index, item in enumerate(raw):
            try:
                values.append(spec.convert(item))
            except FieldError as exc:
                item_errors[str(index)] = [str(exc)]
        if item_errors:
            errors[spec.name] = item_errors
        else:
            out[spec.name] = values
    if errors:
        raise ApiError({"query": errors}, 422)
    return out


def check_cap(per_page: int | None, cap: int = 100) -> None:
    if not per_page or per_page > cap:
        raise ApiError(PER_PAGE_CAP_ERROR.format(cap=cap), 422)


def split_exclusions(values: Sequence[str]) -> tuple[set[str], set[str]]:
    """OpenFEC multi filters: a leading '-' excludes a value, the rest include."""
    include = {v for v in values if not v.startswith("-")}
    exclude = {v[1:] for v in values if v.startswith("-")}
    return include, exclude
