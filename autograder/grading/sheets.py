"""CSV files that people open in a spreadsheet: written safely, read back leniently.

A spreadsheet treats a cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula, so a student id or a comment such as ``=HYPERLINK(...)`` would
run when the instructor opens the file (CSV injection, OWASP). Every cell that the toolkit writes
to a file a spreadsheet may open goes through :func:`cell`, which puts a ``'`` in front of such a
value, the mark that spreadsheets themselves use for "text, not a formula"; :func:`uncell`
removes it again when the toolkit reads one of its own sheets back.

Sheets are read with :func:`read_rows`: UTF-8 with or without the byte-order mark that Excel
writes, and ``,``, ``;`` or tab as the separator (a spreadsheet in a locale with decimal commas
saves with ``;``).
"""

from __future__ import annotations

import csv
import io

#: First characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    """``value`` as a CSV cell that no spreadsheet runs: numbers as ``%g``, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"{value:g}"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def uncell(text: str) -> str:
    """Undo :func:`cell` on a value read back from a sheet (and strip surrounding blanks)."""
    text = (text or "").strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def write_rows(header: list[str], rows: list[dict | list]) -> str:
    """A CSV document (``\\n`` line ends) with every cell passed through :func:`cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        values = [row.get(h) for h in header] if isinstance(row, dict) else row
        writer.writerow([cell(v) for v in values])
    return buffer.getvalue()


def read_rows(raw: bytes | str) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """``(header, [(row number, row)], delimiter)`` of a CSV sheet.

    The header's cells are stripped and lower-cased; blank rows are skipped; rows are numbered
    from 1 at the header, as a spreadsheet numbers them.

    Raises:
        ValueError: if the document is not UTF-8 text or has no header.
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValueError(f"not UTF-8 text ({error}); save the sheet as CSV UTF-8") from None
    raw = raw.lstrip("\ufeff")
    first = raw.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(raw, newline=""), delimiter=delimiter)
    header: list[str] | None = None
    rows = []
    for number, values in enumerate(reader, start=1):
        if header is None:
            header = [v.strip().lower() for v in values]
            continue
        if not any(v.strip() for v in values):
            continue
        rows.append((number, {h: (values[k] if k < len(values) else "") for k, h in enumerate(header)}))
    if not header or not any(header):
        raise ValueError("the sheet is empty (no header row)")
    return header, rows, delimiter
