"""Text that a spreadsheet could take for a formula is written as text.

What officials type (a problem's description, a measure, a unit's name) goes into every
workbook Duban writes. A string beginning with `=`, `+`, `-`, `@`, a tab or a carriage
return is what Excel, WPS and LibreOffice read as the start of a formula
(`=HYPERLINK("http://…","点此")`, `=cmd|…`, `@SUM(…)`): openpyxl itself stores a string
beginning with `=` as a formula. Every such cell is made a plain string cell (an inline
string in the file, no `<f>` element) with the quote-prefix style, which keeps it text
when someone edits the cell. Numbers, negative ones included, stay numbers.
"""
from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def as_text(workbook) -> None:
    """Make every string cell of `workbook` that begins like a formula a text cell."""
    for worksheet in workbook.worksheets:
        for row in worksheet.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                    cell.data_type = "s"
                    cell.quotePrefix = True
