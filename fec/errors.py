"""Domain errors of the OpenFEC client.

Every error's ``str()`` is one line a user can act on, and never contains the API key:
the CLI prints it as-is (exit 1), or stops safely (exit 75) for the ``StopSync`` family.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

SIGNUP_URL = "https://api.data.gov/signup/"
_PASS_KEY = "pass it with --api-key or the OPENFEC_API_KEY environment variable"

# Keys shorter than this are not searched for in text: replacing a one-letter test key
# would mangle every message, and real api.data.gov keys are 40 characters long.
MIN_SECRET_LENGTH = 6

_KEY_IN_QUERY = re.compile(r"(api_key=)[^&\s#'\"]+", re.IGNORECASE)
_KEY_IN_HEADER = re.compile(r"(x-api-key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def redact(text: str, secret: str | None) -> str:
    """Remove the API key from text, plus anything that looks like a key in a URL or header."""
    if secret and len(secret) >= MIN_SECRET_LENGTH:
        text = text.replace(secret, "***")
    text = _KEY_IN_QUERY.sub(r"\1***", text)
    return _KEY_IN_HEADER.sub(r"\1***", text)


def one_line(text: str) -> str:
    """Collapse newlines and runs of spaces (OpenFEC messages carry ~20-space runs)."""
    return _WHITESPACE.sub(" ", text).strip()


def flatten_message(message: Any) -> str:
    """Turn an OpenFEC ``message`` (a string, or marshmallow's nested dict) into one line.

    ``{"query": {"per_page": ["Not a valid integer."]}}`` becomes
    ``query.per_page: Not a valid integer.``
    """
    parts: list[str] = []
    _flatten_into(message, "", parts)
    return one_line("; ".join(parts)) if parts else "(no error message)"


def _flatten_into(value: Any, prefix: str, parts: list[str]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten_into(inner, f"{prefix}.{key}" if prefix else str(key), parts)
    elif isinstance(value, (list, tuple)):
        texts = [one_line(str(item)) for item in value if not isinstance(item, (Mapping, list))]
        if texts:
            parts.append(f"{prefix}: {' '.join(texts)}" if prefix else " ".join(texts))
        for item in value:
            if isinstance(item, (Mapping, list)):
                _flatten_into(item, prefix, parts)
    elif value is not None and str(value).strip():
        parts.append(f"{prefix}: {value}" if prefix else str(value))


def format_epoch(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


class FecError(Exception):
    """Base class; the message is one line, already redacted by whoever raised it."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))

    @property
    def message(self) -> str:
        return str(self.args[0])


_AUTH_ADVICE = {
    "API_KEY_MISSING": "No API key was sent (API_KEY_MISSING). Get a free key at "
    f"{SIGNUP_URL} and {_PASS_KEY}.",
    "API_KEY_INVALID": "The API key was rejected as invalid (API_KEY_INVALID). Check it for "
    f"typos or get a free key at {SIGNUP_URL}, and {_PASS_KEY}.",
    "API_KEY_DISABLED": "The API key has been disabled by api.data.gov (API_KEY_DISABLED). "
    f"Get a new key at {SIGNUP_URL} (or contact api.data.gov) and {_PASS_KEY}.",
    "API_KEY_UNAUTHORIZED": "The API key is not allowed to use the OpenFEC API "
    f"(API_KEY_UNAUTHORIZED). Get a key at {SIGNUP_URL} and {_PASS_KEY}.",
    "API_KEY_UNVERIFIED": "The API key has not been verified yet (API_KEY_UNVERIFIED). "
    f"Confirm it with the link in the email from api.data.gov, or get a new key at {SIGNUP_URL}.",
}


class AuthError(FecError):
    """HTTP 403: the key is missing, invalid, disabled, unauthorized or unverified (or a 401,
    which api.data.gov does not send but a mirror behind other authentication may)."""

    def __init__(self, code: str, server_message: str | None = None, status: int = 403) -> None:
        self.code = code or "UNKNOWN"
        advice = _AUTH_ADVICE.get(self.code)
        if advice is None:
            label = f"HTTP {status}" if self.code == "UNKNOWN" else f"HTTP {status}, {self.code}"
            said = f": {server_message.rstrip('. ')}" if server_message else ""
            advice = (
                f"The OpenFEC API refused access ({label}){said}. Check the API key: "
                f"get one at {SIGNUP_URL} and {_PASS_KEY}."
            )
        super().__init__(advice)


class RateLimited(FecError):
    """A 429 the budget could not absorb (attached as the cause of QuotaExhausted)."""

    def __init__(self, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        asked = f" and asked to wait {retry_after:.0f} s" if retry_after is not None else ""
        super().__init__(f"The OpenFEC API answered 429 Too Many Requests{asked}.")


class TransientError(FecError):
    """5xx, an unreadable body, a reset or a timeout that outlasted the retries."""


class BadRequest(FecError):
    """400/404/422 and other 4xx: the server refused this request; retrying will not help."""

    def __init__(self, status: int, detail: str, path: str | None = None) -> None:
        self.status = status
        self.detail = one_line(detail)
        where = f" to {path}" if path else ""
        super().__init__(
            f"The OpenFEC API rejected the request{where} (HTTP {status}): {self.detail}"
        )


class PaginationError(FecError):
    """A repeated cursor, a cursor cycle, or a page that cannot be paged past."""


class InvalidUnit(FecError):
    """A unit that cannot be asked for at all (say, a malformed committee id in the data)."""


class ConfigurationError(FecError):
    """The API cannot be reached as configured (a redirect, an unusable URL or header)."""


class LegislatorsError(FecError):
    """The congress-legislators file could not be read or is not the expected shape."""


class LegislatorsUnavailable(LegislatorsError, TransientError):
    """The legislators could not be downloaded for now (the network, a server error, a rate
    limit): nothing was lost, and a later run may well succeed."""


class StopSync(FecError):
    """Stop safely and exit 75: everything fetched so far is kept and a re-run resumes."""


class QuotaExhausted(StopSync):
    def __init__(self, message: str | None = None, *, resume_after: float) -> None:
        self.resume_after = resume_after
        super().__init__(
            message
            or "The API rate limit is used up; stopped safely. Re-run after "
            f"{format_epoch(resume_after)} to resume (or raise --max-wait to wait longer)."
        )


class RequestLimitReached(StopSync):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"Stopped safely after {limit} API request{'' if limit == 1 else 's'} "
            "(--max-requests); re-run to resume."
        )


class CircuitOpen(StopSync):
    def __init__(self, failures: int, last_error: str | None = None) -> None:
        self.failures = failures
        last = f" (last: {last_error})" if last_error else ""
        super().__init__(
            f"Stopped safely: {failures} API requests in a row failed{last}. "
            "The API looks unhealthy; re-run later to resume."
        )


class Cancelled(FecError):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "Stopped on request; no further API requests were sent.")
