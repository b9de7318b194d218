"""COPY text, as pg_dump stores table data: its column list, its lines and its escapes.

One row per line, columns separated by tabs, `\\N` for NULL, and backslash escapes for
the characters that would break that layout (PostgreSQL's CopyAttributeOutText writes
`\\\\`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t`, `\\v`; COPY FROM also accepts octal `\\ooo` and
hex `\\xhh` for bytes, and a backslash before any other character means that character).
A raw newline therefore always ends a row and a raw tab always ends a column. The data
ends with a line holding only `\\.` (pg_dump adds two empty lines after it).

Nothing is stripped: an empty string, a string of spaces and NULL are three values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fec.dump_errors import DumpCorrupt, DumpSchemaChanged

NULL = "\\N"
_NULLS: dict[str, str | None] = {NULL: None}
END_MARKER = b"\\."

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)'
_COPY_HEAD = re.compile(rf"COPY\s+{_IDENT}(?:\s*\.\s*{_IDENT})*\s*\(", re.IGNORECASE)
_COLUMN = re.compile(rf"\s*({_IDENT})\s*([,)])")
_COPY_TAIL = re.compile(r"\s*FROM\s+stdin\s*;\s*", re.IGNORECASE)
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{1,2}|[0-7]{1,3}|[\s\S]|\Z)")
_SIMPLE = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def parse_copy_columns(copy_stmt: str | None, where: str) -> tuple[str, ...]:
    """The column names of `COPY schema.table (a, "B", ...) FROM stdin;`, unquoted."""
    text = (copy_stmt or "").strip()
    head = _COPY_HEAD.match(text)
    if head is None:
        raise DumpSchemaChanged(f"{where} has no COPY statement with a column list")
    columns: list[str] = []
    pos, closed = head.end(), False
    while not closed:
        match = _COLUMN.match(text, pos)
        if match is None:
            raise DumpSchemaChanged(f"{where} has a COPY column list that does not parse")
        name = match.group(1)
        columns.append(name[1:-1].replace('""', '"') if name.startswith('"') else name)
        pos, closed = match.end(), match.group(2) == ")"
    if not _COPY_TAIL.fullmatch(text, pos):
        raise DumpSchemaChanged(f"{where} has a COPY statement that is not FROM stdin")
    return tuple(columns)


def iter_copy_lines(pieces: Iterable[bytes], where: str) -> Iterator[list[bytes]]:
    """The rows of COPY text as lists of complete lines (newline removed), one list per
    piece of input, up to the end marker; fails if the marker is missing, or is followed
    by anything but empty lines."""
    tail = b""
    ended = False
    for piece in pieces:
        if ended:
            if piece.strip(b"\n"):
                raise DumpCorrupt(f"{where} has data after COPY's end-of-data marker")
            continue
        lines = (tail + piece if tail else piece).split(b"\n")
        tail = lines.pop()
        if END_MARKER in lines:
            at = lines.index(END_MARKER)
            if any(lines[at + 1:]) or tail:
                raise DumpCorrupt(f"{where} has data after COPY's end-of-data marker")
            del lines[at:]
            ended = True
        if lines:
            yield lines
    if not ended and tail != END_MARKER:
        raise DumpCorrupt(f"{where} ends without COPY's end-of-data marker (\\.)")


def decode_row(line: bytes, width: int, where: str) -> list[str | None]:
    """Every column of one line: NULL as None, escapes undone, text otherwise untouched."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpCorrupt(f"{where} has a row that is not valid UTF-8") from exc
    fields = text.split("\t")
    if len(fields) != width:
        raise DumpCorrupt(f"{where} has a row of {len(fields)} columns where its COPY "
                          f"statement names {width}")
    if "\r" in text:
        raise DumpCorrupt(f"{where} has a raw carriage return in a row, which COPY never "
                          "writes")
    if text.count("\\") == fields.count(NULL):
        # The only backslashes are those of whole-column NULL markers: nothing to unescape.
        return list(map(_NULLS.get, fields, fields))
    return [None if f == NULL else unescape(f, where) if "\\" in f else f for f in fields]


def unescape(value: str, where: str) -> str:
    """Undo COPY's backslash escapes in one column (octal and hex ones give bytes, so the
    work is done on the UTF-8 bytes)."""
    def one(match: re.Match[bytes]) -> bytes:
        token = match.group(1)
        if not token:
            raise DumpCorrupt(f"{where} has a value ending in a lone backslash (a backslash "
                              "before a tab or a newline), which pg_dump never writes")
        if token[0] == ord("x") and len(token) > 1:
            return bytes([int(token[1:], 16)])
        if token[0] in b"01234567":
            return bytes([int(token, 8) & 0xFF])
        return _SIMPLE.get(token, token)

    raw = _ESCAPE.sub(one, value.encode("utf-8"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DumpCorrupt(f"{where} has an escaped value that is not valid UTF-8") from exc
