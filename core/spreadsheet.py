"""CSV for spreadsheets: UTF-8 with a byte order mark, which Excel needs to read Hangul as Hangul (without
it, Excel in a Korean locale reads the file as CP949)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, Final

CSV_MEDIA_TYPE: Final = "text/csv"
BOM: Final = "\ufeff"


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else _safe(value) for value in row])
    return out.getvalue().encode("utf-8")


def _safe(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet (CSV injection): a reason typed by a
    # person must never run as one. Numbers are written as they are.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """``?format=csv``, or an ``Accept`` header that names ``text/csv`` (and not JSON first)."""
    if format_ is not None:
        return format_ == "csv"
    if not accept:
        return False
    for item in accept.split(","):
        media = item.split(";", 1)[0].strip().lower()
        if media == CSV_MEDIA_TYPE:
            return True
        if media in ("application/json", "application/*", "*/*"):
            return False
    return False
