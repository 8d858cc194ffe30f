"""A Word document laid out as a Chinese official document reads (GB/T 9704-2012 党政机关公文格式):
A4, the type area 156 × 225 mm (top margin 37 mm, left 28 mm), the body in 仿宋_GB2312 三号 on
22 lines of 28 characters, first-level headings in 黑体, the masthead in red 方正小标宋简体
over a red rule, page numbers "— 1 —" in 4号宋体 under the type area (odd pages on the right,
even ones on the left, one character in), and the colophon (版记) between rules on the last page.

The fonts are named as offices install them; a reader without them sees Word's substitutes,
and the layout (page, margins, sizes, lines) holds either way.
"""
from __future__ import annotations

import io

from docx import Document
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor

PAGE_WIDTH, PAGE_HEIGHT = Mm(210), Mm(297)
TOP, BOTTOM, LEFT, RIGHT = Mm(37), Mm(35), Mm(28), Mm(26)   # type area 156 × 225 mm
BODY_WIDTH = PAGE_WIDTH - LEFT - RIGHT
FOOTER_DISTANCE = Mm(21)      # the page number's rule 7 mm under the type area

BODY_FONT, TITLE_FONT, HEADING_FONT, NUMBER_FONT = "仿宋_GB2312", "方正小标宋简体", "黑体", "宋体"
LATIN_FONT = "Times New Roman"
BODY_SIZE = Pt(16)            # 三号
TITLE_SIZE = Pt(22)           # 二号
NUMBER_SIZE = Pt(14)          # 4号
SMALL_SIZE = Pt(12)           # 小四: the office and date lines, whose office names run long
TABLE_SIZE = Pt(10.5)         # 五号: tables of seven or eight columns fit the 156 mm
LINE = Pt(28.95)              # 22 lines on 225 mm
INDENT = Pt(32)               # two characters of 三号
RED = RGBColor(0xE6, 0x00, 0x12)


def _fonts(run_or_style, name: str, size=None) -> None:
    font = run_or_style.font
    font.name = LATIN_FONT if name == BODY_FONT else name
    if size is not None:
        font.size = size
    properties = run_or_style._element.get_or_add_rPr()
    fonts = properties.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        properties.insert(0, fonts)
    fonts.set(qn("w:eastAsia"), name)


def _border(paragraph, side: str, size_eighths: int, colour: str) -> None:
    properties = paragraph._p.get_or_add_pPr()
    borders = properties.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        properties.append(borders)
    line = OxmlElement(f"w:{side}")
    line.set(qn("w:val"), "single")
    line.set(qn("w:sz"), str(size_eighths))
    line.set(qn("w:space"), "1")
    line.set(qn("w:color"), colour)
    borders.append(line)


def _shade(cell, colour: str) -> None:
    fill = OxmlElement("w:shd")
    fill.set(qn("w:val"), "clear")
    fill.set(qn("w:color"), "auto")
    fill.set(qn("w:fill"), colour)
    cell._tc.get_or_add_tcPr().append(fill)


def _page_field(paragraph) -> None:
    """'— N —' with N Word's PAGE field."""
    def run(text: str | None = None):
        r = paragraph.add_run(text or "")
        _fonts(r, NUMBER_FONT, NUMBER_SIZE)
        return r

    run("— ")
    for kind, text in (("begin", None), (None, " PAGE "), ("separate", None), (None, "1"), ("end", None)):
        r = run()
        if kind:
            mark = OxmlElement("w:fldChar")
            mark.set(qn("w:fldCharType"), kind)
            r._r.append(mark)
        elif text == " PAGE ":
            code = OxmlElement("w:instrText")
            code.set(qn("xml:space"), "preserve")
            code.text = text
            r._r.append(code)
        else:
            r.text = text
    run(" —")


class OfficialDocument:
    def __init__(self) -> None:
        self.document = Document()
        section = self.document.sections[0]
        section.start_type = WD_SECTION.NEW_PAGE
        section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
        section.top_margin, section.bottom_margin = TOP, BOTTOM
        section.left_margin, section.right_margin = LEFT, RIGHT
        section.footer_distance = FOOTER_DISTANCE
        normal = self.document.styles["Normal"]
        _fonts(normal, BODY_FONT, BODY_SIZE)
        normal.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        normal.paragraph_format.line_spacing = LINE
        normal.paragraph_format.space_before = normal.paragraph_format.space_after = Pt(0)
        self.document.settings.odd_and_even_pages_header_footer = True
        for footer, alignment, side in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT, "right"),
                                        (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT, "left")):
            paragraph = footer.paragraphs[0]
            paragraph.alignment = alignment
            setattr(paragraph.paragraph_format, f"{side}_indent", NUMBER_SIZE)  # one character in
            _page_field(paragraph)

    # -- the masthead (版头) -------------------------------------------------------------------

    def masthead(self, title: str, number: str, office: str, day: str) -> None:
        """The red title, the issue number, the office and date, and the red rule under them."""
        fitting = min(Pt(36), int(BODY_WIDTH / max(len(title), 1)))   # one line across the type area
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        run = paragraph.add_run(title)
        _fonts(run, TITLE_FONT, fitting)
        run.font.color.rgb = RED
        paragraph.paragraph_format.space_after = Pt(12)
        self._paragraph(WD_ALIGN_PARAGRAPH.CENTER).add_run(number)
        line = self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)
        line.paragraph_format.tab_stops.add_tab_stop(BODY_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
        _fonts(line.add_run(f"{office}\t{day}"), BODY_FONT, SMALL_SIZE)
        _border(line, "bottom", 12, "E60012")          # the red rule, as wide as the type area
        self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)        # one empty line under the rule

    # -- the body ----------------------------------------------------------------------------

    def _paragraph(self, alignment, line=LINE):
        paragraph = self.document.add_paragraph()
        paragraph.alignment = alignment
        if line is None:
            paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
        return paragraph

    def heading(self, text: str) -> None:
        """A first-level heading (一、…): 黑体 三号, indented two characters like the body."""
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)
        paragraph.paragraph_format.first_line_indent = INDENT
        paragraph.paragraph_format.keep_with_next = True
        _fonts(paragraph.add_run(text), HEADING_FONT, BODY_SIZE)

    def text(self, text: str) -> None:
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.JUSTIFY)
        paragraph.paragraph_format.first_line_indent = INDENT
        paragraph.add_run(text)

    def table(self, headers: list[str], rows: list[list], colours: list[list[str | None]] | None = None,
              header_fill: str = "E7E6E6") -> None:
        grid = self.document.add_table(rows=1, cols=len(headers))
        grid.style = "Table Grid"
        grid.alignment = WD_TABLE_ALIGNMENT.CENTER
        for index, row in enumerate([headers, *rows]):
            cells = grid.rows[0].cells if index == 0 else grid.add_row().cells
            for column, value in enumerate(row):
                cell = cells[column]
                paragraph = cell.paragraphs[0]
                paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
                paragraph.paragraph_format.first_line_indent = Pt(0)
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER if index == 0 else WD_ALIGN_PARAGRAPH.LEFT
                run = paragraph.add_run("" if value is None else str(value))
                _fonts(run, HEADING_FONT if index == 0 else BODY_FONT, TABLE_SIZE)
                colour = header_fill if index == 0 else (colours[index - 1][column] if colours else None)
                if colour:
                    _shade(cell, colour)
        self._paragraph(WD_ALIGN_PARAGRAPH.LEFT, line=None)  # air under the table

    def picture(self, png: bytes, width=Mm(150)) -> None:
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.CENTER, line=None)
        paragraph.add_run().add_picture(io.BytesIO(png), width=width)

    def note(self, text: str) -> None:
        paragraph = self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)
        paragraph.paragraph_format.first_line_indent = INDENT
        paragraph.add_run(text)

    # -- the colophon (版记) -------------------------------------------------------------------

    def colophon(self, office: str, day: str) -> None:
        """印发机关和印发日期 on the last page, between a thicker and a thinner rule."""
        self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)
        line = self._paragraph(WD_ALIGN_PARAGRAPH.LEFT)
        line.paragraph_format.left_indent = NUMBER_SIZE
        line.paragraph_format.tab_stops.add_tab_stop(BODY_WIDTH - NUMBER_SIZE * 2, WD_TAB_ALIGNMENT.RIGHT)
        _fonts(line.add_run(f"{office}\t{day}印发"), BODY_FONT, SMALL_SIZE)
        _border(line, "top", 8, "000000")
        _border(line, "bottom", 8, "000000")

    def bytes(self) -> bytes:
        out = io.BytesIO()
        self.document.save(out)
        return out.getvalue()
