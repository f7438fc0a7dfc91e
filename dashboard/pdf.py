"""The marked A4 PDF page both printed documents use, and the text guards around it.

``MarkedPdf`` is an fpdf2 document with the Government Security Classifications marking at the
top and bottom of every page, "Page n of N", DejaVu Sans (shipped with matplotlib) and helpers
for headings, paragraphs, bullets, pictures and tables. The plan summary
(``dashboard.plan_exports``) and the patrol brief (``dashboard.patrol_exports``) are both built
on it, so they look and behave alike.

Text a person typed is only ever written as plain text (``MarkedPdf.plain``): never through
fpdf2's ``write_html`` or ``markdown=True``, so ``<b>`` or ``**`` in a title is printed as typed.
"""

from __future__ import annotations

import io
import struct
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import pandas as pd
from fpdf import FPDF, FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos

__all__ = [
    "FONT",
    "GREY",
    "HEADING_FILL",
    "MarkedPdf",
    "formula_safe",
    "is_missing",
    "small_table",
    "truncate",
]

# matplotlib ships DejaVu Sans, which covers Latin, Greek, Cyrillic, most symbols and many emoji
_FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
FONT = "DejaVu"
"""The font family name every ``MarkedPdf`` registers (DejaVu Sans, regular and bold)."""
# The page-count placeholder is private-use characters the font has no glyph for, so
# ``MarkedPdf.plain`` replaces them in anything a person typed. With fpdf2's default "{nb}",
# a title containing "{nb}" would print the page count instead.
_PAGE_COUNT_ALIAS = "\ue000\ue001"
_MARGIN_MM = 15.0
_INK = (33, 33, 33)
GREY = (96, 96, 96)
"""The RGB colour of labels, notes and other secondary text."""
_RULE = (190, 190, 190)
HEADING_FILL = (232, 236, 241)
"""The RGB fill behind a table's heading row."""
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def is_missing(value: object) -> bool:
    """True for None, NaN, NaT and ``pd.NA``; a string or bytes is never missing."""
    return value is None or (not isinstance(value, str | bytes) and bool(pd.isna(value)))


def formula_safe(value: object) -> object:
    """``value`` with a leading apostrophe when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in an ellipsis when it was cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class MarkedPdf(FPDF):
    """An A4 page with the marking at top and bottom, and plain-text helpers for typed text."""

    def __init__(self, marking: str, generated: str, synthetic: bool) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.marking = marking
        self.generated = generated
        self.synthetic = synthetic
        for style, name in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
            self.add_font(FONT, style, _FONT_DIR / name)
        # a character either face lacks is swapped for U+FFFD; fpdf2 would warn and draw nothing
        self.glyphs = frozenset.intersection(*(frozenset(f.cmap) for f in self.fonts.values()))
        self.alias_nb_pages(_PAGE_COUNT_ALIAS)
        self.set_margins(_MARGIN_MM, 22, _MARGIN_MM)
        self.set_auto_page_break(True, margin=18)
        self.set_text_color(*_INK)
        self.set_draw_color(*_RULE)

    def plain(self, value: object) -> str:
        """``value`` as text the fonts can draw: NFC, no control characters, gaps as U+FFFD."""
        if is_missing(value):
            return ""
        text = unicodedata.normalize("NFC", str(value)).replace("\r\n", "\n").replace("\r", "\n")
        kept = []
        for char in text:
            if char == "\n" or ord(char) in self.glyphs:
                kept.append(char)
            elif char == "\t":
                kept.append(" ")
            elif unicodedata.category(char) in ("Cc", "Cf"):
                continue  # invisible controls and joiners: nothing to draw
            else:
                kept.append("\ufffd")  # a visible gap, never an exception
        return "".join(kept)

    def header(self) -> None:
        """The marking, centred, on every page (and the synthetic-data note when asked)."""
        self.set_y(8)
        self.set_font(FONT, "B", 10)
        self.cell(0, 5, self.plain(self.marking), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if self.synthetic:
            self.set_font(FONT, "", 7.5)
            self.set_text_color(*GREY)
            self.cell(0, 4, "Synthetic demo data: no real people, places or incidents", align="C")
            self.set_text_color(*_INK)
        self.set_y(self.t_margin)

    def footer(self) -> None:
        """The marking again, the date generated, and "Page n of N"."""
        self.set_y(-13)
        self.set_draw_color(*_RULE)
        self.line(self.l_margin, self.get_y() - 1, self.w - self.r_margin, self.get_y() - 1)
        third = self.epw / 3
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY)
        self.cell(third, 5, f"Generated {self.generated}", align="L")
        self.set_font(FONT, "B", 10)
        self.set_text_color(*_INK)
        self.cell(third, 5, self.plain(self.marking), align="C")
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY)
        self.cell(third, 5, f"Page {self.page_no()} of {_PAGE_COUNT_ALIAS}", align="R")
        self.set_text_color(*_INK)

    def heading(self, text: str, size: float = 12.5, keep_mm: float = 30) -> None:
        """A section heading, moved to a new page when it would sit alone at the bottom."""
        if self.will_page_break(keep_mm):
            self.add_page()
        self.ln(2.5)
        self.set_font(FONT, "B", size)
        self.multi_cell(0, size * 0.5, self.plain(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def paragraph(
        self, text: object, size: float = 9.5, colour: tuple[int, int, int] = _INK
    ) -> None:
        """Typed or composed text, wrapped, as plain text."""
        self.set_font(FONT, "", size)
        self.set_text_color(*colour)
        self.multi_cell(
            0, size * 0.5, self.plain(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.set_text_color(*_INK)

    def bullets(self, lines: Iterable[str], size: float = 9.5) -> None:
        """One indented line per item, each starting with a bullet."""
        self.set_font(FONT, "", size)
        for line in lines:
            self.set_x(self.l_margin + 3)
            self.multi_cell(
                self.epw - 3,
                size * 0.5,
                "• " + self.plain(line),
                align="L",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )

    def picture(self, png: bytes, width_mm: float, alt_text: str) -> None:
        """A PNG ``width_mm`` wide, on a new page when it does not fit on this one."""
        if png[:8] != _PNG_MAGIC:
            raise ValueError(f"{alt_text}: expected PNG bytes, got {png[:8]!r}")
        width_px, height_px = struct.unpack(">II", png[16:24])  # from the IHDR chunk
        height_mm = width_mm * height_px / width_px
        if self.will_page_break(height_mm):
            self.add_page()
        self.image(io.BytesIO(png), x=self.l_margin, w=width_mm, h=height_mm, alt_text=alt_text)
        self.ln(1.5)


def small_table(
    pdf: MarkedPdf, headings: tuple[str, ...], rows: list[tuple[str, ...]], widths
) -> None:
    """A ruled table with a filled heading row; every cell is written as plain text."""
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=widths,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        text_align="LEFT",
        line_height=4.2,
        padding=(1, 1.5),
    ) as table:
        table.row(headings)
        for values in rows:
            table.row([pdf.plain(value) for value in values])
