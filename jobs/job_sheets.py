"""PDF job sheets: `render(sheet) -> bytes`, pure (no I/O but reading the font).

fpdf2 lays out an A4 page: the tenant's logo and name, the task's details,
its notes, the timeline with times in the tenant's time zone and geo stamps,
the purchases with their line items and totals per currency, the receipts,
a grid of photo thumbnails; every page has its number and the generation
time. English pages read left to right; Arabic pages are mirrored (labels
and columns start on the right).

Text is shaped by HarfBuzz (uharfbuzz, fpdf2's `set_text_shaping`) in the
Amiri font that the `fontpkg-amiri` package installs (no system font
assumed; docs/decisions.md says why Amiri). Each line is cut into direction
runs (`jobs.sheet_text.runs`) and each run gets its own cell with its own
direction, so Arabic comes out joined, in order, and extractable as text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from PIL import Image

from jobs.sheet_data import JobSheet, SheetPhoto, totals_by_currency
from jobs.sheet_text import Run, SheetFormat, clean, runs

FONT = "amiri"
PAGE_MARGIN = 15.0
LINE = 6.0
GAP = 1.6  # between two runs of one line
ELLIPSIS = "…"
PHOTO_COLUMNS = 4
BAD_IMAGE = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    ZeroDivisionError,
    Image.DecompressionBombError,
)


def font_file(style: str) -> Path:
    return Path(str(files("fontpkg_amiri").joinpath("files", f"Amiri-{style}.ttf")))


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    share: float  # of the text width
    numeric: bool = False  # set against the column's far side


class _Pdf(FPDF):
    """An A4 page with the page number and generation time in the footer."""

    def __init__(self, fmt: SheetFormat, generated: str) -> None:
        super().__init__(format="A4", unit="mm")
        self.fmt = fmt
        self.generated = generated
        self.writer = _Writer(self)
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


class _Writer:
    """Lines of runs at the current y, mirrored for right-to-left pages."""

    def __init__(self, pdf: _Pdf) -> None:
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
        a list of items (names), each its own runs, separated by commas."""
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
        if isinstance(text, str):
            return runs(text, self.rtl)
        found: list[Run] = []
        for item in text:
            if found:  # the comma ends the item before, in the line's direction
                found.append(Run("،", True) if self.rtl else Run(",", False))
            found.extend(runs(item, self.rtl))
        if not self.rtl:  # "Ann ," -> "Ann,"
            found = _glue_commas(found)
        return found

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

    def paragraph(self, text: str, *, size: float = 10, bold: bool = False) -> None:
        """Wrapped text in its own direction (a title, a description, notes)."""
        pdf = self.pdf
        pdf.set_font(FONT, "B" if bold else "", size)
        pdf.set_text_color(20)
        for raw in text.splitlines() or [""]:
            paragraph = clean(raw)
            if not paragraph:
                pdf.ln(size * 0.25)
                continue
            first = runs(paragraph, self.rtl)[0]
            self._shape(Run(paragraph, first.rtl))
            pdf.set_x(pdf.l_margin)
            pdf.multi_cell(
                self.width,
                size * 0.5,
                paragraph,
                align="R" if first.rtl else "L",
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

    def section(self, title: str) -> None:
        pdf = self.pdf
        if pdf.get_y() + 3 * LINE > pdf.page_break_trigger:
            pdf.add_page()
        pdf.ln(3)
        self.line(title, size=13, bold=True, h=8)
        pdf.set_y(pdf.get_y() + 8)
        pdf.set_draw_color(15, 118, 110)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + self.width, pdf.get_y())
        pdf.ln(1.5)


def _glue_commas(found: list[Run]) -> list[Run]:
    glued: list[Run] = []
    for run in found:
        if run.text == "," and glued and not glued[-1].rtl:
            glued[-1] = Run(glued[-1].text + ",", False)
        else:
            glued.append(run)
    return glued


def render(sheet: JobSheet) -> bytes:
    """The job sheet as PDF bytes."""
    fmt = SheetFormat(sheet.locale, sheet.time_zone)
    pdf = _Pdf(fmt, fmt.timestamp(sheet.generated_at))
    pdf.set_title(clean(f"{fmt.label('job_sheet')}: {sheet.title}"))
    pdf.set_lang(sheet.locale)
    pdf.add_page()
    _header(pdf, sheet)
    _details(pdf, sheet)
    _timeline(pdf, sheet)
    _purchases(pdf, sheet)
    _receipts(pdf, sheet)
    _photos(pdf, sheet)
    return bytes(pdf.output())


def _header(pdf: _Pdf, sheet: JobSheet) -> None:
    """The logo and the tenant's name on the start side, "Job sheet" on the other."""
    writer, fmt = pdf.writer, pdf.fmt
    top = pdf.get_y()
    logo_w = 0.0
    if sheet.logo is not None:
        logo_w = _image(pdf, sheet.logo, pdf.l_margin, top, 40, 16, end=False)
    inset = logo_w + 4 if logo_w else 0.0
    name_w = writer.width * 0.62 - inset
    name_x = pdf.l_margin + (writer.width - inset - name_w if fmt.rtl else inset)
    pdf.set_y(top + 3)
    writer.line(sheet.tenant_name, x=name_x, w=name_w, size=14, bold=True, h=8)
    label_x = pdf.l_margin + (0 if fmt.rtl else writer.width * 0.64)
    pdf.set_y(top + 3)
    writer.line(
        fmt.label("job_sheet"), x=label_x, w=writer.width * 0.36, size=14, end=True, grey=True, h=8
    )
    pdf.set_y(top + (18 if logo_w else 13))
    writer.paragraph(sheet.title, size=16, bold=True)
    pdf.ln(2)


def _details(pdf: _Pdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    pairs: list[tuple[str, str | list[str]]] = [
        ("status", fmt.status(sheet.status)),
        ("priority", fmt.priority(sheet.priority)),
        ("assignees", list(sheet.assignees) or fmt.label("unassigned")),
    ]
    if sheet.due_at is not None:
        pairs.append(("due", fmt.timestamp(sheet.due_at)))
    where = [sheet.address] if sheet.address.strip() else []
    if sheet.location is not None:
        geo = sheet.location
        where.append(fmt.geo(geo.lat, geo.lng, geo.accuracy_m))
    if where:
        pairs.append(("location", where))
    if sheet.created_at is not None:
        pairs.append(("created", fmt.timestamp(sheet.created_at)))
    columns = [Column("", 0.22), Column("", 0.78)]
    for key, value in pairs:
        y = pdf.get_y()
        (label_x, label_w), (value_x, value_w) = writer.column_x(columns)
        writer.line(fmt.label(key), x=label_x, w=label_w, bold=True, grey=True)
        pdf.set_y(y)
        writer.line(value, x=value_x, w=value_w)
        pdf.set_y(y + LINE)
    for key, text in (("description", sheet.description), ("notes", sheet.notes)):
        if text.strip():
            writer.section(fmt.label(key))
            writer.paragraph(text)


def _timeline(pdf: _Pdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("timeline"))
    columns = [
        Column(fmt.label("time"), 0.22),
        Column(fmt.label("event"), 0.26),
        Column(fmt.label("by"), 0.22),
        Column(fmt.label("position"), 0.30),
    ]
    if sheet.events_left_out:
        writer.line(f"{fmt.label('earlier_events')} {sheet.events_left_out}", size=9, grey=True)
        pdf.ln(LINE)
    if not sheet.events:
        writer.line(fmt.label("none"), grey=True)
        pdf.ln(LINE)
        return
    writer.header_row(columns)
    for event in sheet.events:
        kind = fmt.event_kind(event.kind)
        if event.refused and event.kind != "action_refused":
            kind = f"{kind} ({fmt.label('refused')})"
        stamp = event.geo
        geo = "" if stamp is None else fmt.geo(stamp.lat, stamp.lng, stamp.accuracy_m)
        cells = [fmt.timestamp(event.at), kind, event.actor or "", geo]
        writer.row(columns, cells, header=columns)


def _purchases(pdf: _Pdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("purchases"))
    if not sheet.purchases:
        writer.line(fmt.label("none"), grey=True)
        pdf.ln(LINE)
        return
    columns = [
        Column(fmt.label("date"), 0.20),
        Column(fmt.label("vendor"), 0.30),
        Column(fmt.label("quantity"), 0.12, numeric=True),
        Column(fmt.label("unit_price"), 0.19, numeric=True),
        Column(fmt.label("amount"), 0.19, numeric=True),
    ]
    writer.header_row(columns)
    for purchase in sheet.purchases:
        money = fmt.money(purchase.amount_minor, purchase.currency)
        cells = [fmt.date(purchase.purchased_at), purchase.vendor, "", "", money]
        writer.row(columns, cells, bold=True, header=columns)
        for item in purchase.line_items:
            line_total = round(item.quantity * item.unit_price_minor)
            cells = [
                "",
                item.description,
                fmt.number(item.quantity),
                fmt.money(item.unit_price_minor, purchase.currency),
                fmt.money(line_total, purchase.currency),
            ]
            writer.row(columns, cells, header=columns)
    pdf.ln(2)
    totals = [Column("", 0.62), Column("", 0.38, numeric=True)]
    writer.row(totals, [fmt.label("totals"), ""], bold=True)
    for currency, total in totals_by_currency(sheet.purchases).items():
        writer.row(totals, [currency, fmt.money(total, currency)], bold=True)


def _receipts(pdf: _Pdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("receipts"))
    if not sheet.receipts:
        writer.line(fmt.label("none"), grey=True)
        pdf.ln(LINE)
        return
    columns = [
        Column(fmt.label("date"), 0.22),
        Column(fmt.label("vendor"), 0.40),
        Column(fmt.label("files"), 0.12, numeric=True),
        Column(fmt.label("amount"), 0.26, numeric=True),
    ]
    writer.header_row(columns)
    for receipt in sheet.receipts:
        cells = [
            fmt.date(receipt.issued_at),
            receipt.vendor or "",
            fmt.number(receipt.files),
            fmt.money(receipt.total_minor, receipt.currency),
        ]
        writer.row(columns, cells, header=columns)


def _photos(pdf: _Pdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("photos"))
    if not sheet.photos:
        writer.line(fmt.label("none"), grey=True)
        pdf.ln(LINE)
        return
    gap = 3.0
    box = (writer.width - gap * (PHOTO_COLUMNS - 1)) / PHOTO_COLUMNS
    for start in range(0, len(sheet.photos), PHOTO_COLUMNS):
        if pdf.get_y() + box > pdf.page_break_trigger:
            pdf.add_page()
        y = pdf.get_y()
        for column, photo in enumerate(sheet.photos[start : start + PHOTO_COLUMNS]):
            offset = column * (box + gap)
            x = pdf.l_margin + (writer.width - offset - box if fmt.rtl else offset)
            _photo(pdf, photo, x, y, box)
        pdf.set_y(y + box + gap)
    if sheet.photos_left_out:
        writer.line(f"{fmt.label('more_photos')} {sheet.photos_left_out}", size=9, grey=True)
        pdf.ln(LINE)


def _photo(pdf: _Pdf, photo: SheetPhoto, x: float, y: float, box: float) -> None:
    pdf.set_draw_color(210)
    pdf.rect(x, y, box, box)
    _image(pdf, photo.jpeg, x + 1, y + 1, box - 2, box - 2, end=False, centre=True)


def _image(
    pdf: _Pdf,
    data: bytes,
    x: float,
    y: float,
    max_w: float,
    max_h: float,
    *,
    end: bool,
    centre: bool = False,
) -> float:
    """Place an image within max_w x max_h (at the start side, or centred); answer
    the width it took (0 for bytes that are no image: the sheet goes on without)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            ratio = image.width / image.height
    except BAD_IMAGE:
        return 0.0
    w = min(max_w, max_h * ratio)
    h = w / ratio
    if centre:
        x, y = x + (max_w - w) / 2, y + (max_h - h) / 2
    elif pdf.fmt.rtl != end:
        x = pdf.l_margin + pdf.epw - w
    pdf.image(io.BytesIO(data), x=x, y=y, w=w, h=h)
    return w
