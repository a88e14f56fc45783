"""The page and the pen of a job sheet: an A4 `SheetPdf` with its footer, and a
`Writer` that sets lines of direction runs, wrapped paragraphs, table rows and
section titles at the current y, mirrored on right-to-left pages.

Text is shaped by HarfBuzz (uharfbuzz, fpdf2's `set_text_shaping`) in the
Amiri font that the `fontpkg-amiri` package installs (no system font
assumed; docs/decisions.md says why Amiri). Each line is cut into direction
runs (`jobs.sheet_text.runs`) and each run gets its own cell with its own
direction, so Arabic comes out joined, in order, and extractable as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from jobs.sheet_text import Run, SheetFormat, clean, list_runs, runs

FONT = "amiri"
PAGE_MARGIN = 15.0
LINE = 6.0
GAP = 1.6  # between two runs of one line
ELLIPSIS = "…"


def font_file(style: str) -> Path:
    return Path(str(files("fontpkg_amiri").joinpath("files", f"Amiri-{style}.ttf")))


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    share: float  # of the text width
    numeric: bool = False  # set against the column's far side


class SheetPdf(FPDF):
    """An A4 page with the page number and generation time in the footer."""

    def __init__(self, fmt: SheetFormat, generated: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.fmt = fmt
        self.generated = generated
        self.writer = Writer(self)
        self.set_margins(PAGE_MARGIN, PAGE_MARGIN, PAGE_MARGIN)
        self.set_auto_page_break(True, margin=PAGE_MARGIN + 4)
        self.add_font(FONT, "", font_file("Regular"))
        self.add_font(FONT, "B", font_file("Bold"))
        self.c_margin = 0

    def footer(self) -> None:
        self.set_y(-PAGE_MARGIN - 2)
        page = f"{self.fmt.label('page')} {self.page_no()} {self.fmt.label('of')} {{nb}}"
        self.writer.line(page, size=8, end=True, grey=True)
        self.set_y(-PAGE_MARGIN - 2)
        self.writer.line(f"{self.fmt.label('generated')} {self.generated}", size=8, grey=True)


class Writer:
    """Lines of runs at the current y, mirrored for right-to-left pages."""

    def __init__(self, pdf: SheetPdf) -> None:
        self.pdf = pdf
        self.rtl = pdf.fmt.rtl
        self._widths: dict[tuple[str, bool, str, float], float] = {}  # names, labels recur

    @property
    def width(self) -> float:
        return self.pdf.epw

    def line(
        self,
        text: str | Sequence[str],
        *,
        x: float | None = None,
        w: float | None = None,
        size: float = 10,
        bold: bool = False,
        end: bool = False,
        grey: bool = False,
        h: float = LINE,
    ) -> None:
        """`text` on one line within [x, x + w] (the text width by default),
        from the line's start side, or its end side with `end`. A sequence is
        a list of items (names, an address), each its own runs in its own
        direction (an isolate, as HTML's `dir="auto"`), separated by commas."""
        pdf = self.pdf
        left = pdf.l_margin if x is None else x
        width = self.width if w is None else w
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.set_text_color(110 if grey else 20)
        if pdf.will_page_break(h):
            pdf.add_page()
        y = pdf.get_y()
        pieces = self._fit(self._runs(text), width)
        used = sum(run_width for _, run_width in pieces) + GAP * max(len(pieces) - 1, 0)
        if self.rtl:  # the first run rightmost, whichever side the line keeps to
            cursor = left + (used if end else width)
        else:
            cursor = left + (width - used if end else 0)
        for run, run_width in pieces:
            x = cursor - run_width if self.rtl else cursor
            self._shape(run)
            pdf.set_xy(x, y)
            pdf.cell(run_width, h, run.text)
            cursor = x - GAP if self.rtl else x + run_width + GAP
        pdf.set_xy(pdf.l_margin, y)

    def _runs(self, text: str | Sequence[str]) -> list[Run]:
        return runs(text, self.rtl) if isinstance(text, str) else list_runs(text, self.rtl)

    def _fit(self, found: Sequence[Run], width: float) -> list[tuple[Run, float]]:
        """The runs with their widths, the last ones shortened (…) to fit `width`."""
        placed: list[tuple[Run, float]] = []
        room = width
        for run in found:
            run_width = self._measure(run)
            if run_width > room:
                text = run.text
                while text and self._measure(Run(text + ELLIPSIS, run.rtl)) > room:
                    text = text[:-1]
                if text:
                    shortened = Run(text.rstrip() + ELLIPSIS, run.rtl)
                    placed.append((shortened, self._measure(shortened)))
                break
            placed.append((run, run_width))
            room -= run_width + GAP
        return placed

    def _measure(self, run: Run) -> float:
        key = (run.text, run.rtl, self.pdf.font_style, self.pdf.font_size_pt)
        width = self._widths.get(key)
        if width is None:
            self._shape(run)
            width = self._widths[key] = float(self.pdf.get_string_width(run.text)) + 0.2
        return width

    def _shape(self, run: Run) -> None:
        """Every run through HarfBuzz: Amiri's Latin needs it too (its unshaped full stop
        is the Arabic one)."""
        if run.rtl:
            self.pdf.set_text_shaping(True, direction="rtl", script="arab", language="ar")
        else:
            self.pdf.set_text_shaping(True, direction="ltr", script="latn")

    def paragraph(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        x: float | None = None,
        w: float | None = None,
        grey: bool = False,
    ) -> None:
        """Wrapped text in its own direction (a title, a description, notes), within
        [x, x + w] (the text width by default); from the right on a right-to-left
        page, and for right-to-left text."""
        pdf = self.pdf
        left = pdf.l_margin if x is None else x
        width = self.width if w is None else w
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.set_text_color(90 if grey else 20)
        for raw in text.splitlines() or [""]:
            paragraph = clean(raw)
            if not paragraph:
                pdf.ln(size * 0.25)
                continue
            first = runs(paragraph, self.rtl)[0]
            self._shape(Run(paragraph, first.rtl))
            pdf.set_x(left)
            pdf.multi_cell(
                width,
                size * 0.5,
                paragraph,
                align="R" if first.rtl or self.rtl else "L",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )

    def column_x(self, columns: Sequence[Column]) -> list[tuple[float, float]]:
        """Each column's (x, width), mirrored on a right-to-left page."""
        placed, offset = [], 0.0
        for column in columns:
            width = column.share * self.width
            x = self.pdf.l_margin + offset
            if self.rtl:
                x = self.pdf.l_margin + self.width - offset - width
            placed.append((x, width))
            offset += width
        return placed

    def row(
        self,
        columns: Sequence[Column],
        cells: Sequence[str],
        *,
        bold: bool = False,
        size: float = 9,
        header: Sequence[Column] | None = None,
    ) -> None:
        """One table row; a new page (repeating the header) when it would not fit."""
        pdf = self.pdf
        if pdf.get_y() + LINE > pdf.page_break_trigger:
            pdf.add_page()
            if header is not None:
                self.header_row(header)
        y = pdf.get_y()
        for (x, width), column, text in zip(self.column_x(columns), columns, cells, strict=True):
            pdf.set_y(y)
            self.line(text, x=x, w=width - 2, size=size, bold=bold, end=column.numeric)
        pdf.set_xy(pdf.l_margin, y + LINE)

    def header_row(self, columns: Sequence[Column]) -> None:
        pdf = self.pdf
        pdf.set_fill_color(236, 240, 243)
        pdf.rect(pdf.l_margin, pdf.get_y(), self.width, LINE, style="F")
        self.row(columns, [column.label for column in columns], bold=True)

    def section(self, title: str, *, keep: int = 1) -> None:
        """A section's title, on a new page unless `keep` lines fit under it."""
        pdf = self.pdf
        if pdf.get_y() + (2 + keep) * LINE + 4.5 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.ln(3)
        self.line(title, size=13, bold=True, h=8)
        pdf.set_y(pdf.get_y() + 8)
        pdf.set_draw_color(15, 118, 110)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(1.5)
