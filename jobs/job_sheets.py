"""PDF job sheets: `render(sheet) -> bytes`, pure (no I/O but reading the font).

fpdf2 lays out an A4 page: the tenant's logo and name, the job number, the
task's details (the tenant's time zone named), its notes, the timeline in
the order things happened with each entry's text (a note, a photo's
caption, who signed), the purchases with their line items and their totals
per currency under the amount column, the receipts with theirs, a grid of
photo thumbnails with their captions, and the customer's signature in its
own block; every page has its number and the generation time. English
pages read left to right; Arabic pages are mirrored (labels and columns
start on the right). The page and the pen are `jobs.sheet_writer`.
"""

from __future__ import annotations

import io

from PIL import Image

from jobs.sheet_data import JobSheet, SheetPhoto, totals_by_currency
from jobs.sheet_text import SheetFormat, clean
from jobs.sheet_writer import FONT, LINE, Column, SheetPdf, font_file

__all__ = ["FONT", "font_file", "render"]

PHOTO_COLUMNS = 4
BAD_IMAGE = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    ZeroDivisionError,
    Image.DecompressionBombError,
)


def render(sheet: JobSheet) -> bytes:
    """The job sheet as PDF bytes."""
    fmt = SheetFormat(sheet.locale, sheet.time_zone)
    generated = f"{fmt.timestamp(sheet.generated_at)} {fmt.zone_name(sheet.generated_at)}"
    pdf = SheetPdf(fmt, generated)
    title = f"{sheet.job_number} {sheet.title}" if sheet.job_number else sheet.title
    pdf.set_title(clean(f"{fmt.label('job_sheet')}: {title}"))
    pdf.set_lang(sheet.locale)
    pdf.add_page()
    _header(pdf, sheet)
    _details(pdf, sheet)
    _timeline(pdf, sheet)
    _purchases(pdf, sheet)
    _receipts(pdf, sheet)
    _photos(pdf, sheet)
    _signature(pdf, sheet)
    return bytes(pdf.output())


def _header(pdf: SheetPdf, sheet: JobSheet) -> None:
    """The logo and the tenant's name on the start side, "Job sheet" and the job
    number on the other."""
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
    pdf.set_y(top)
    writer.line(
        fmt.label("job_sheet"), x=label_x, w=writer.width * 0.36, size=12, end=True, grey=True, h=7
    )
    if sheet.job_number:
        pdf.set_y(top + 7)
        writer.line(
            sheet.job_number, x=label_x, w=writer.width * 0.36, size=14, end=True, bold=True
        )
    pdf.set_y(top + (18 if logo_w else 15))
    writer.paragraph(sheet.title, size=16, bold=True)
    pdf.ln(2)


def _details(pdf: SheetPdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    pairs: list[tuple[str, str | list[str]]] = []
    if sheet.job_number:
        pairs.append(("job_number", sheet.job_number))
    pairs += [
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
    pairs.append(("time_zone", fmt.zone_name(sheet.generated_at)))
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


def _timeline(pdf: SheetPdf, sheet: JobSheet) -> None:
    """Entries in the order they happened; the words that came with one (a note, a
    caption, a reason, who signed) on the lines under it, from the event column."""
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("timeline"))
    writer.line(f"{fmt.label('times_in')} {fmt.zone_name(sheet.generated_at)}", size=9, grey=True)
    pdf.ln(LINE)
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
    text_x, text_w = _span(writer.column_x(columns)[1:])
    for event in sheet.events:
        kind = fmt.event_kind(event.kind)
        if event.refused and event.kind != "action_refused":
            kind = f"{kind} ({fmt.label('refused')})"
        stamp = event.geo
        geo = "" if stamp is None else fmt.geo(stamp.lat, stamp.lng, stamp.accuracy_m)
        cells = [fmt.timestamp(event.at), kind, event.actor or "", geo]
        writer.row(columns, cells, header=columns)
        if event.text:
            words = event.text
            if event.kind == "signature":
                words = f"{fmt.label('signed_by')}: {words}"
            pdf.set_y(pdf.get_y() - 1)
            writer.paragraph(words, size=9, x=text_x, w=text_w - 2, grey=True)
            pdf.ln(1)


def _span(placed: list[tuple[float, float]]) -> tuple[float, float]:
    """The (x, width) that covers the columns placed."""
    left = min(x for x, _ in placed)
    right = max(x + w for x, w in placed)
    return left, right - left


def _total_rule(pdf: SheetPdf, x: float, w: float) -> None:
    pdf.set_draw_color(120)
    pdf.line(x, pdf.get_y(), x + w, pdf.get_y())


def _purchases(pdf: SheetPdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    first = sheet.purchases[0] if sheet.purchases else None
    writer.section(fmt.label("purchases"), keep=2 + (len(first.line_items) if first else 0))
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
    # The totals sit in the table, under the amount column, one line per currency.
    _total_rule(pdf, *_span(writer.column_x(columns)[3:]))
    for currency, total in totals_by_currency(sheet.purchases).items():
        cells = ["", "", "", f"{fmt.label('total')} {currency}", fmt.money(total, currency)]
        writer.row(columns, cells, bold=True, header=columns)


def _receipts(pdf: SheetPdf, sheet: JobSheet) -> None:
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
    _total_rule(pdf, *_span(writer.column_x(columns)[2:]))
    for currency, total in totals_by_currency(sheet.receipts).items():
        cells = ["", "", f"{fmt.label('total')} {currency}", fmt.money(total, currency)]
        writer.row(columns, cells, bold=True, header=columns)


def _photos(pdf: SheetPdf, sheet: JobSheet) -> None:
    writer, fmt = pdf.writer, pdf.fmt
    writer.section(fmt.label("photos"))
    if not sheet.photos:
        writer.line(fmt.label("none"), grey=True)
        pdf.ln(LINE)
        return
    gap = 3.0
    box = (writer.width - gap * (PHOTO_COLUMNS - 1)) / PHOTO_COLUMNS
    for start in range(0, len(sheet.photos), PHOTO_COLUMNS):
        shown = sheet.photos[start : start + PHOTO_COLUMNS]
        captioned = any(photo.caption for photo in shown)
        height = box + (5.0 if captioned else 0.0)
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
        y = pdf.get_y()
        for column, photo in enumerate(shown):
            offset = column * (box + gap)
            x = pdf.l_margin + (writer.width - offset - box if fmt.rtl else offset)
            _photo(pdf, photo, x, y, box)
            if photo.caption:
                pdf.set_y(y + box + 0.5)
                writer.line(photo.caption, x=x, w=box, size=8, grey=True, h=4.5)
        pdf.set_y(y + height + gap)
    if sheet.photos_left_out:
        writer.line(f"{fmt.label('more_photos')} {sheet.photos_left_out}", size=9, grey=True)
        pdf.ln(LINE)


def _signature(pdf: SheetPdf, sheet: JobSheet) -> None:
    """The customer's sign-off in its own framed block, kept whole on one page."""
    writer, fmt = pdf.writer, pdf.fmt
    signed = sheet.signature
    block = 46.0
    if pdf.get_y() + block + 14 > pdf.page_break_trigger:
        pdf.add_page()
    writer.section(fmt.label("sign_off"))
    top = pdf.get_y() + 1
    pdf.set_draw_color(150)
    pdf.rect(pdf.l_margin, top, writer.width, block)
    inner_x, inner_w = pdf.l_margin + 4, writer.width - 8
    if signed is None:
        pdf.set_y(top + 4)
        writer.line(fmt.label("not_signed"), x=inner_x, w=inner_w, grey=True)
        pdf.set_y(top + block + 2)
        return
    pictured = 0.0
    if signed.image is not None:
        box_x = inner_x + inner_w - 70 if fmt.rtl else inner_x
        if _image(pdf, signed.image, box_x, top + 4, 70, block - 8, end=False, centre=True):
            pictured = 70.0
    text_w = inner_w - (pictured + 6 if pictured else 0)
    text_x = inner_x + (0 if fmt.rtl or not pictured else pictured + 6)
    columns = [Column("", 0.36), Column("", 0.64)]
    rows: list[tuple[str, str]] = [
        ("signed_by", signed.signer),
        ("signed_at", f"{fmt.timestamp(signed.at)} {fmt.zone.key}"),
    ]
    if signed.geo is not None:
        rows.append(
            ("signed_where", fmt.geo(signed.geo.lat, signed.geo.lng, signed.geo.accuracy_m))
        )
    y = top + 6
    for key, value in rows:
        label_w, value_w = text_w * columns[0].share, text_w * columns[1].share
        label_x = text_x + (text_w - label_w if fmt.rtl else 0)
        value_x = text_x + (0 if fmt.rtl else label_w)
        pdf.set_y(y)
        writer.line(fmt.label(key), x=label_x, w=label_w - 2, bold=True, grey=True, size=9)
        pdf.set_y(y)
        writer.line(value, x=value_x, w=value_w, bold=key == "signed_by", size=11)
        y += LINE + 2
    if signed.image is None:
        pdf.set_y(y)
        writer.line(fmt.label("no_drawing"), x=text_x, w=text_w, grey=True, size=9)
    pdf.set_y(top + block + 2)


def _photo(pdf: SheetPdf, photo: SheetPhoto, x: float, y: float, box: float) -> None:
    pdf.set_draw_color(210)
    pdf.rect(x, y, box, box)
    _image(pdf, photo.jpeg, x + 1, y + 1, box - 2, box - 2, end=False, centre=True)


def _image(
    pdf: SheetPdf,
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
