"""The CSV files an instructor edits (points sheets, rosters), read whatever the spreadsheet saved.

Excel in a European locale saves CSV with semicolons (and decimal commas); LibreOffice may use tabs.
:func:`read_table` finds the delimiter from the header line, the one that yields the columns it
needs, and names the problem (and the delimiter it saw) when none does.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

__all__ = ["DELIMITERS", "Table", "number", "read_table", "write_table"]

#: The delimiters tried, in order: comma, semicolon, tab.
DELIMITERS = (",", ";", "\t")
_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


class Table:
    """A CSV file's rows (dicts keyed by the stripped header names) and the delimiter it used."""

    def __init__(self, rows: list[dict[str, str]], columns: list[str], delimiter: str) -> None:
        self.rows, self.columns, self.delimiter = rows, columns, delimiter


def read_table(path: Path, required: list[str]) -> Table:
    """Read ``path`` (UTF-8, with or without Excel's byte-order mark, any line ends), its delimiter
    being the first of :data:`DELIMITERS` whose header holds every ``required`` column.

    Raises ValueError naming the file, the columns it needs and what its first line holds.
    """
    text = path.read_text(encoding="utf-8-sig")
    header = text.splitlines()[0] if text.strip() else ""
    for delimiter in DELIMITERS:
        columns = [name.strip() for name in next(csv.reader([header], delimiter=delimiter), [])]
        if set(required) <= set(columns):
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
            next(reader)
            rows = [dict(zip(columns, (value.strip() for value in row))) for row in reader if any(row)]
            return Table(rows, columns, delimiter)
    seen = max(DELIMITERS, key=header.count)
    parts = [column.strip() for column in header.split(seen)]
    split = f"split by {_NAMES[seen]}: {parts}" if len(parts) > 1 else "one column"
    raise ValueError(
        f"{path}: expected a header line with the columns {', '.join(required)} (separated by commas, "
        f"semicolons or tabs); its first line is {header[:200]!r} ({split}). Restore the header line"
    )


def number(text: str, delimiter: str) -> float:
    """A number as a spreadsheet wrote it: ``0.5``, or ``0,5`` in a file not separated by commas."""
    text = text.strip()
    if delimiter != "," and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    return float(text)


def write_table(columns: list[str], rows: list[list[str]], delimiter: str = ",") -> str:
    """CSV text: the header ``columns``, then ``rows``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()
