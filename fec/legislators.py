"""Politicians from the unitedstates/congress-legislators JSON (openfec-api.md §7).

Each entry has ``id.bioguide`` (the key we use), ``id.fec`` (a list of FEC candidate ids:
a senator's old House id, re-registrations...), ``name`` and ``terms`` (oldest first).
Entries without any FEC id are kept with empty ``fec_ids`` so they can be reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from fec.errors import LegislatorsError, LegislatorsUnavailable, one_line
from fec.transport import errno_reason

logger = logging.getLogger(__name__)

DEFAULT_URL = "https://unitedstates.github.io/congress-legislators/legislators-current.json"
_CHAMBERS = {"rep": "house", "sen": "senate"}
_RETRY_LATER = frozenset({408, 429})  # statuses that say "not now" rather than "no"
_PASSING = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
_LASTING = (requests.exceptions.SSLError, requests.exceptions.ProxyError)  # ConnectionErrors too


@dataclass(frozen=True)
class Politician:
    bioguide_id: str
    name: str
    party: str | None
    state: str | None
    chamber: str | None  # "house" or "senate"
    fec_ids: tuple[str, ...]


def load_legislators(source: str, *, timeout: float = 30.0) -> list[Politician]:
    """Load from an http(s) URL or a local path; raise LegislatorsError with one line."""
    text = _download(source, timeout) if is_url(source) else _read_file(source)
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise LegislatorsError(f"{source} is not valid JSON ({_json_reason(exc)})") from exc
    if not isinstance(entries, list):
        raise LegislatorsError(
            f"{source} is not a congress-legislators file: expected a JSON list of "
            f"legislators, got a JSON {_json_type(entries)}"
        )
    if not entries:  # a placeholder or a cut download: loading it would sync nobody, exit 0
        raise LegislatorsError(f"{source} is not a congress-legislators file: it lists no "
                               "legislators")
    politicians: dict[str, Politician] = {}
    for index, entry in enumerate(entries):
        politician = _politician(entry, index, source)
        if politician.bioguide_id in politicians:
            logger.warning("%s: bioguide id %s appears twice; keeping the first entry",
                           source, politician.bioguide_id)
            continue
        politicians[politician.bioguide_id] = politician
    without_ids = sum(1 for p in politicians.values() if not p.fec_ids)
    logger.info("%s: %d legislators, %d without an FEC candidate id",
                source, len(politicians), without_ids)
    return list(politicians.values())


def is_url(source: str) -> bool:
    """How load_legislators tells a URL from a path."""
    return source.lower().startswith(("http://", "https://"))


def _download(url: str, timeout: float) -> str:
    try:
        with requests.get(url, timeout=timeout) as response:
            status = response.status_code
            if status != 200:
                # A server's trouble or its rate limit passes; a missing page does not.
                error = (LegislatorsUnavailable if status >= 500 or status in _RETRY_LATER
                         else LegislatorsError)
                raise error(f"Could not download legislators from {url}: HTTP {status}")
            return response.text
    except (requests.RequestException, ValueError) as exc:
        # No connection, a timeout or a cut body may pass; a certificate, a redirect loop or
        # a URL that cannot be parsed will not, and a re-run would only fail again.
        passes = (isinstance(exc, _PASSING) and not isinstance(exc, _LASTING))
        error = LegislatorsUnavailable if passes else LegislatorsError
        raise error(
            f"Could not download legislators from {url}: {type(exc).__name__}{errno_reason(exc)}"
        ) from exc


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LegislatorsError(f"Cannot read legislators file {path}: {reason}") from exc


def _json_reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return one_line(str(exc))


def _json_type(value: Any) -> str:
    if isinstance(value, Mapping):
        return "object"
    return {str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _politician(entry: Any, index: int, source: str) -> Politician:
    ids = entry.get("id") if isinstance(entry, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(ids, Mapping):
        raise _no_bioguide(index, source)
    bioguide = ids.get("bioguide")
    if not isinstance(bioguide, str) or not bioguide.strip():
        raise _no_bioguide(index, source)
    term = _latest_term(entry.get("terms"))
    return Politician(
        bioguide_id=bioguide.strip(),
        name=_name(entry.get("name"), bioguide.strip()),
        party=_text(term.get("party")),
        state=_text(term.get("state")),
        chamber=_CHAMBERS.get(str(term.get("type"))),
        fec_ids=_fec_ids(ids.get("fec")),
    )


def _no_bioguide(index: int, source: str) -> LegislatorsError:
    return LegislatorsError(
        f"{source}: entry {index + 1} has no id.bioguide; is this a congress-legislators file?"
    )


def _latest_term(terms: Any) -> Mapping[str, Any]:
    if not isinstance(terms, list):
        return {}
    dated = [term for term in terms if isinstance(term, Mapping)]
    if not dated:
        return {}
    # The file lists terms oldest first; sorting on the ISO start date makes that explicit.
    return max(dated, key=lambda term: str(term.get("start") or ""))


def _name(name: Any, fallback: str) -> str:
    if not isinstance(name, Mapping):
        return fallback
    official = _text(name.get("official_full"))
    if official:
        return official
    parts = [_text(name.get("first")), _text(name.get("last"))]
    return " ".join(part for part in parts if part) or fallback


def _fec_ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # tolerate a single id where a list is expected
        value = [value]
    if not isinstance(value, list):
        return ()
    ids = (item.strip().upper() for item in value if isinstance(item, str) and item.strip())
    return tuple(dict.fromkeys(ids))


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None
