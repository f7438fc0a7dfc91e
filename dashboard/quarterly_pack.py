"""The Violence Strategic Delivery Group's quarterly pack: a marked A4 PDF and an Excel workbook.

Both print a ``QuarterlyReport`` (``dashboard.quarterly_report.build_report``), so the pack says
exactly what the Quarterly page says, with small numbers suppressed when the report was built
with ``suppress=True``. Nothing here reads the store, the settings or Streamlit.

The PDF (``pack_pdf``) is for the meeting papers: a cover, contents, the headline table, a ward
choropleth and a hotspots-over-time map drawn here with GeoPandas and Matplotlib (no browser,
no tiles), trend charts, the action plan by VRU theme with its RAG status, the actions due and
overdue, the plans opened and closed, and the data's sources and limits. It is built on
``dashboard.pdf.MarkedPdf``: the marking top and bottom of every page, "Page n of N", and real,
searchable text in which anything a person typed is printed as plain text, never as markup.

The workbook (``pack_workbook``) holds the same tables, one sheet each, for partners who want to
work with the figures; text a spreadsheet would run as a formula is guarded as
``dashboard.pdf.formula_safe`` does.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
from fpdf import FontFace
from fpdf.enums import Align, TableBordersLayout, XPos, YPos
from fpdf.outline import OutlineSection
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from dashboard import emerging_hotspots, hotspots, quarterly, static_maps
from dashboard.action_plan import (
    PROGRESS_COLUMNS,
    RAG_AMBER,
    RAG_GREEN,
    RAG_NONE,
    RAG_RED,
    RAG_RULES,
)
from dashboard.dates import today_in_london
from dashboard.pdf import FONT, GREY, HEADING_FILL, MarkedPdf, formula_safe, is_missing, truncate
from dashboard.plans import ACTION_STATUS_LABELS, PLAN_STATUS_LABELS, SARA_LABELS, VRU_THEMES
from dashboard.quarterly import COMPARISONS, EN_DASH, MEASURES, PERIOD_COLUMNS, Quarter
from dashboard.quarterly_report import DEFAULT_BASE, QuarterlyReport
from dashboard.store.models import ActionStatus, PlanStatus, SaraStage
from dashboard.summaries import ATTRIBUTION_MARKDOWN, SOURCE_NOTES_MARKDOWN

__all__ = [
    "CHANGE_TEST_SENTENCE",
    "GROUP_NAME",
    "SECTIONS",
    "WORKBOOK_SHEETS",
    "pack_pdf",
    "pack_workbook",
    "page_count",
    "suppression_statement",
]

log = logging.getLogger(__name__)

GROUP_NAME = "Violence Strategic Delivery Group"
# The headline table runs 7 measures x 3 comparisons = 21 tests at the 5% level
CHANGE_TEST_SENTENCE = (
    "Whether a change is more than chance is decided by the two-count Poisson (conditional "
    "binomial) test; 21 tests, so about one 'more than chance' in twenty can be chance. Each "
    "test allows for the periods' lengths in days and uses the 5% level."
)
SECTIONS = (
    "Headline figures",
    "Notes on the figures",
    "Serious violence by ward",
    "Hotspots over time",
    "Trends",
    "The action plan by VRU theme",
    "Actions due next quarter",
    "Overdue actions",
    "Plans opened and closed",
    "Data quality and sources",
)
"""The pack's sections, in order, as the contents page lists them."""
WORKBOOK_SHEETS = (
    "Headline",
    "Wards",
    "Hotspots",
    "Monthly",
    "Weekday x hour",
    "Action plan",
    "Due next quarter",
    "Overdue",
    "Plans",
    "Sources",
    "About",
)
"""The workbook's sheets, in order; "Weekday x hour" only when the report has that table."""

_MAP_SIZE_PX = (1600, 1120)  # 8 x 5.6 in: 180 mm wide on the page, 126 mm tall
_MAP_AXES = (0.005, 0.075, 0.76, 0.915)  # the legend sits in the quarter to the right
_MONTHLY_SIZE_PX = (1600, 560)
_HEATMAP_SIZE_PX = (1600, 620)
_PAGE_WIDTH_MM = 180.0  # A4 less MarkedPdf's 15 mm margins
_WARD_EDGE = "#4d4d4d"
_NO_RATE_FILL = "#d9d9d9"
_QUARTER_SHADE = "#fde0c5"
_BAR = "#9e9e9e"
_BAR_IN_QUARTER = "#b2182b"
# RAG fills dark enough for white text, or light with black text; the word is printed too, so a
# greyscale copy still reads
_RAG_STYLES = {
    RAG_RED: ((192, 39, 45), (255, 255, 255)),
    RAG_AMBER: ((255, 191, 0), (0, 0, 0)),
    RAG_GREEN: ((26, 128, 63), (255, 255, 255)),
    RAG_NONE: ((230, 230, 230), (60, 60, 60)),
}
_SOURCE_NAMES = {"police_extract": "Police extract", "police_uk": "police.uk"}
_ACTION_WIDTHS = (38, 68, 13, 26, 18, 17)  # plan, action, theme, owner, due, status: 180 mm
_TITLE_MAX = 90
_DESCRIPTION_MAX = 170
_AGENCY_MAX = 40
# openpyxl refuses these (XML 1.0 cannot hold them); typed text could contain them
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_PAGE_OBJECT = re.compile(rb"/Type /Page(?![A-Za-z])")  # each page's dictionary, not /Pages


# --- words and numbers ---------------------------------------------------------------------------


def suppression_statement(report: QuarterlyReport) -> str:
    """What the cover says about small numbers: suppressed for circulation, or internal."""
    if report.suppressed:
        return (
            f"Figures suppressed for circulation: counts under {report.threshold} shown as "
            f"<{report.threshold}, others rounded to {DEFAULT_BASE}"
        )
    return "INTERNAL: small numbers not suppressed"


def _count_text(value: object) -> str:
    """A count as printed: "1,175"; a suppressed "<10" as it is; missing as a dash."""
    if is_missing(value):
        return EN_DASH
    if isinstance(value, str):
        return f"{int(value):,}" if value.isdigit() else value
    return f"{int(value):,}"  # type: ignore[call-overload]


def _count_value(value: object) -> object:
    """A count for a spreadsheet: a number where it is one, "<10" as text, missing as blank."""
    if is_missing(value):
        return None
    if isinstance(value, str):
        return int(value) if value.isdigit() else value
    return int(value)  # type: ignore[call-overload]


def _day(value: object) -> str:
    return "" if is_missing(value) else f"{pd.Timestamp(value):%d %b %Y}"  # type: ignore[arg-type]


def _long_day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def _status_label(value: object) -> str:
    try:
        return ACTION_STATUS_LABELS[ActionStatus(str(getattr(value, "value", value)))]
    except ValueError:
        return str(value)


def _plan_status_label(value: object) -> str:
    try:
        return PLAN_STATUS_LABELS[PlanStatus(str(getattr(value, "value", value)))]
    except ValueError:
        return str(value)


def _sara_label(value: object) -> str:
    try:
        return SARA_LABELS[SaraStage(str(getattr(value, "value", value)))]
    except ValueError:
        return "" if is_missing(value) else str(value)


def _source_name(value: object) -> str:
    return _SOURCE_NAMES.get(str(value), str(value).replace("_", " "))


def _markdown_items(markdown: str) -> list[str]:
    """The items of a Markdown bullet list as plain text: no ``**``, links as "text (url)"."""
    items: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("- "):
            items.append(stripped[2:])
        elif stripped and items:
            items[-1] += " " + stripped
    return [_MARKDOWN_LINK.sub(r"\1 (\2)", item).replace("**", "") for item in items]


def _rules_parts(rules: str) -> tuple[str, list[str]]:
    """``emerging_hotspots.RULES`` as its opening paragraph and one line per pattern."""
    lines = rules.splitlines()
    opening = " ".join(line for line in lines if not line.startswith("- "))
    return opening.strip(), [line[2:] for line in lines if line.startswith("- ")]


def _period_headings(quarter: Quarter) -> dict[str, str]:
    labels = quarterly.period_labels(quarter)
    return {
        "this_quarter": f"This quarter ({labels['this_quarter']})",
        "previous_quarter": f"Previous quarter ({labels['previous_quarter']})",
        "same_quarter_last_year": f"Same quarter last year ({labels['same_quarter_last_year']})",
        "rolling_12_months": f"Rolling {labels['rolling_12_months']}",
        "previous_12_months": f"Previous {labels['previous_12_months']}",
    }


_COMPARISON_HEADINGS = {
    "vs_previous_quarter": "vs previous quarter",
    "vs_same_quarter_last_year": "vs same quarter last year",
    "rolling_vs_previous_12_months": "12 months vs the 12 before",
}


def _shown_classes(report: QuarterlyReport) -> tuple[quarterly.RateClasses, dict[str, int]]:
    """The rate classes the pack prints, and each ward code's class (wards with no rate left out).

    ``build_report`` works the classes out from the rates it shows, so a suppressed report's
    class edges never print a hidden ward's rate.
    """
    numbers = pd.Series(pd.array(report.wards["rate_class"], dtype="Float64"))
    by_code = {
        str(code): int(number)
        for code, number in zip(report.wards["code"], numbers, strict=True)
        if not is_missing(number)
    }
    return report.rate_classes, by_code


def _class_ranges(classes: quarterly.RateClasses) -> dict[int, str]:
    return {index + 1: text for index, text in enumerate(classes.legend)}


def _class_colours(count: int) -> list[str]:
    """``count`` sequential colours, light to dark (YlOrRd), ordered in greyscale too."""
    ramp = colormaps["YlOrRd"]
    return [to_hex(ramp(position)) for position in np.linspace(0.12, 0.9, max(count, 1))]


# --- pictures ------------------------------------------------------------------------------------


def _map_axes(bounds: np.ndarray) -> tuple[Figure, Axes, tuple[float, float, float, float]]:
    """A map's figure, its axes (the legend goes to their right) and a view fitting ``bounds``.

    The view is the borough plus a 4% margin, widened to the axes' shape, so the borough fills
    the frame (``static_maps.view`` leaves a quarter round a small plan area instead).
    """
    drawing = static_maps.figure(_MAP_SIZE_PX)
    axes = drawing.add_axes(_MAP_AXES)
    west, south, east, north = (float(value) for value in bounds)
    pad_m = 0.04 * max(east - west, north - south)
    west, south, east, north = west - pad_m, south - pad_m, east + pad_m, north + pad_m
    shape = _MAP_AXES[2] * _MAP_SIZE_PX[0] / (_MAP_AXES[3] * _MAP_SIZE_PX[1])
    centre_x, centre_y = (west + east) / 2, (south + north) / 2
    half_width, half_height = (east - west) / 2, (north - south) / 2
    if half_width / half_height < shape:
        half_width = half_height * shape
    else:
        half_height = half_width / shape
    view = (
        centre_x - half_width,
        centre_y - half_height,
        centre_x + half_width,
        centre_y + half_height,
    )
    return drawing, axes, view


def _finish(
    drawing: Figure,
    axes: Axes,
    view: tuple[float, float, float, float],
    handles: Sequence[Patch | Line2D],
    title: str,
    caption: str,
) -> bytes:
    """North up, scale bar and caption (``static_maps.finish_map``); the legend beside the map."""
    static_maps.finish_map(drawing, axes, view, handles, caption, caption_y=0.02, wrap=True)
    axes.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0,
        fontsize=7,
        frameon=False,
        title=title,
        title_fontproperties={"size": 7.5, "weight": "bold"},
        alignment="left",
    )
    return static_maps.png(drawing)


def _ward_names(axes, wards_bng: gpd.GeoDataFrame) -> None:
    halo = [patheffects.withStroke(linewidth=2.2, foreground="white")]
    for name, point in zip(
        wards_bng["name"], wards_bng.geometry.representative_point(), strict=True
    ):
        axes.annotate(
            str(name),
            (point.x, point.y),
            ha="center",
            va="center",
            fontsize=5.6,
            color="#222222",
            path_effects=halo,
            zorder=5,
        )


def _ward_map_png(report: QuarterlyReport) -> bytes:
    """The ward choropleth: rate classes, "no rate" hatched grey, ward names, legend, scale."""
    wards = static_maps.in_bng(report.ward_map, "ward_map")
    if wards is None:
        raise ValueError("the report has no wards to map")
    drawing, axes, view = _map_axes(wards.total_bounds)
    rate_classes, by_code = _shown_classes(report)
    legend = rate_classes.legend
    colours = _class_colours(len(legend))
    classes = pd.array([by_code.get(str(code)) for code in wards["code"]], dtype="Float64")
    missing = np.asarray(pd.isna(classes), dtype=bool)
    handles: list[Patch | Line2D] = []
    for number, (text, colour) in enumerate(zip(legend, colours, strict=True), start=1):
        chosen = ~missing & (classes.to_numpy(dtype=float, na_value=np.nan) == number)
        if chosen.any():
            wards[chosen].plot(ax=axes, color=colour, edgecolor=_WARD_EDGE, linewidth=0.6)
        wards_word = "ward" if int(chosen.sum()) == 1 else "wards"
        handles.append(
            Patch(
                facecolor=colour,
                edgecolor=_WARD_EDGE,
                label=f"{text} ({int(chosen.sum())} {wards_word})",
            )
        )
    if missing.any():
        wards[missing].plot(
            ax=axes, color=_NO_RATE_FILL, edgecolor=_WARD_EDGE, hatch="////", linewidth=0.6
        )
        handles.append(
            Patch(
                facecolor=_NO_RATE_FILL,
                edgecolor=_WARD_EDGE,
                hatch="////",
                label=f"no rate: count hidden\nor no population ({int(missing.sum())})",
            )
        )
    _ward_names(axes, wards)
    return _finish(
        drawing,
        axes,
        view,
        handles,
        "Rate per 1,000\nresidents",
        f"Serious violence per 1,000 residents, {report.quarter.label}; classes: "
        f"{rate_classes.label}.",
    )


def _hotspot_map_png(report: QuarterlyReport) -> bytes:
    """Hotspot cells coloured by pattern over ward outlines, with a legend and a scale bar."""
    wards = static_maps.in_bng(report.ward_map, "ward_map")
    cells = static_maps.in_bng(report.hotspot_cells, "hotspot_cells")
    if wards is None:
        raise ValueError("the report has no wards to map")
    drawing, axes, view = _map_axes(wards.total_bounds)
    wards.plot(ax=axes, color="#f7f7f7", edgecolor="none", zorder=0)
    handles: list[Patch | Line2D] = []
    if cells is not None:
        for pattern in emerging_hotspots.PATTERNS:
            mine = cells[cells["pattern"] == pattern]
            if mine.empty:
                continue
            colour = emerging_hotspots.PATTERN_COLOURS[pattern]
            mine.plot(ax=axes, color=colour, edgecolor="white", linewidth=0.3, zorder=2)
            handles.append(
                Patch(facecolor=colour, edgecolor="#666666", label=f"{pattern} ({len(mine)})")
            )
    wards.boundary.plot(ax=axes, color=_WARD_EDGE, linewidth=0.7, zorder=3)
    handles.append(Line2D([], [], color=_WARD_EDGE, linewidth=0.9, label="ward boundary"))
    _ward_names(axes, wards)
    return _finish(
        drawing,
        axes,
        view,
        handles,
        "Pattern (cells)",
        f"Serious violence hotspot patterns over the quarters to {report.quarter.label}, "
        f"{hotspots.DEFAULT_CELL_SIZE_M:.0f} m cells; cells never hot are not drawn.",
    )


def _monthly_png(report: QuarterlyReport) -> bytes:
    """The 36-month series of serious violence, the selected quarter shaded and named."""
    monthly = report.monthly
    drawing = static_maps.figure(_MONTHLY_SIZE_PX)
    axes = drawing.add_subplot()
    positions = np.arange(len(monthly))
    counts = monthly["incidents"].astype(int).to_numpy()
    in_quarter = monthly["in_quarter"].astype(bool).to_numpy()
    months = pd.to_datetime(monthly["month"])
    uncovered = _months_before_data(months, report.sources)
    if uncovered:  # a month before the data begins is not a month with no incidents
        axes.axvspan(-0.5, uncovered - 0.5, color="#eeeeee", hatch="///", ec="#bbbbbb", lw=0)
        axes.text(
            (uncovered - 1) / 2,
            0.5,
            "no data",
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="center",
            rotation=90 if uncovered < 3 else 0,
            fontsize=6.5,
            color="#666666",
        )
    if in_quarter.any():
        first, last = np.flatnonzero(in_quarter)[[0, -1]]
        axes.axvspan(first - 0.5, last + 0.5, color=_QUARTER_SHADE, zorder=0)
        axes.text(
            (first + last) / 2,
            1.0,
            report.quarter.label,
            transform=axes.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7.5,
            fontweight="bold",
            color=_BAR_IN_QUARTER,
        )
    axes.bar(
        positions,
        counts,
        width=0.75,
        color=np.where(in_quarter, _BAR_IN_QUARTER, _BAR),
        zorder=2,
    )
    # a label at each quarter's first month keeps 36 months readable; a tick at every month
    starts = [index for index, month in enumerate(months) if month.month in (1, 4, 7, 10)]
    axes.set_xticks(positions, minor=True)
    axes.set_xticks(
        starts,
        [f"{months[i]:%b}\n{months[i]:%Y}" for i in starts],
        fontsize=7,
    )
    axes.set_xlim(-0.6, len(monthly) - 0.4)
    axes.set_ylim(0, max(1, int(counts.max()) if len(counts) else 1) * 1.12)
    axes.set_ylabel("Incidents per month", fontsize=7.5)
    axes.tick_params(axis="y", labelsize=7)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.grid(axis="y", color="#e6e6e6", linewidth=0.6, zorder=1)
    axes.spines[["top", "right"]].set_visible(False)
    drawing.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.17)
    return static_maps.png(drawing)


def _months_before_data(months: pd.Series, sources: pd.DataFrame) -> int:
    """How many of ``months`` (firsts of months, oldest first) end before the data's first day."""
    if sources.empty or sources["first_on"].isna().all():
        return len(months)
    first_day = pd.Timestamp(pd.to_datetime(sources["first_on"]).min())
    month_ends = months + pd.offsets.MonthEnd(0)
    return int((month_ends < first_day).sum())


def _weekday_hour_png(weekday_hour: pd.DataFrame) -> bytes:
    """The quarter's serious violence by weekday (rows) and hour (columns), as a heatmap."""
    drawing = static_maps.figure(_HEATMAP_SIZE_PX)
    axes = drawing.add_axes((0.1, 0.16, 0.8, 0.76))
    colour_axes = drawing.add_axes((0.92, 0.16, 0.015, 0.76))
    values = weekday_hour.to_numpy(dtype=float)
    image = axes.imshow(values, cmap="YlOrRd", aspect="auto", vmin=0)
    axes.set_yticks(range(len(weekday_hour.index)), list(weekday_hour.index), fontsize=7)
    axes.set_xticks(range(len(weekday_hour.columns)), list(weekday_hour.columns), fontsize=6.5)
    axes.set_xlabel("Hour of the day (London time)", fontsize=7.5)
    colour_bar = drawing.colorbar(image, cax=colour_axes)
    colour_bar.ax.tick_params(labelsize=6.5)
    colour_bar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    colour_bar.set_label("Incidents", fontsize=7)
    return static_maps.png(drawing)


# --- the PDF -------------------------------------------------------------------------------------

Cell = str | tuple[str, FontFace]


def _table(
    pdf: MarkedPdf,
    headings: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    widths: Sequence[float],
    *,
    size: float = 7.5,
    heading_size: float | None = None,
    align: Sequence[str] | None = None,
) -> None:
    """A ruled table that fits the page: plain-text cells, a cell may carry its own style."""
    pdf.set_font(FONT, "", size)
    with pdf.table(
        col_widths=tuple(widths),
        width=min(_PAGE_WIDTH_MM, sum(widths)),
        align=Align.L,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(
            emphasis="BOLD", fill_color=HEADING_FILL, size_pt=heading_size or size
        ),
        text_align=tuple(align) if align else "LEFT",
        line_height=size * 0.48,
        padding=(0.9, 1.2),
        v_align="TOP",
    ) as table:
        table.row([pdf.plain(text) for text in headings])
        for values in rows:
            row = table.row()
            for value in values:
                if isinstance(value, tuple):
                    row.cell(pdf.plain(value[0]), style=value[1])
                else:
                    row.cell(pdf.plain(value))


def _section(pdf: MarkedPdf, title: str, *, new_page: bool = False, keep_mm: float = 45) -> None:
    """Start a section: on a new page when asked or when it would start at the page's foot."""
    if new_page or pdf.will_page_break(keep_mm):
        pdf.add_page()
    pdf.start_section(title)  # the contents page and the PDF's bookmarks list it
    pdf.heading(title, size=14, keep_mm=0)


def _render_contents(pdf: MarkedPdf, outline: list[OutlineSection]) -> None:
    """The contents page: each section, dotted leaders, its page number; each line a link."""
    pdf.set_xy(pdf.l_margin, pdf.t_margin)
    pdf.ln(2.5)
    pdf.set_font(FONT, "B", 14)
    pdf.cell(0, 9, "Contents", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    number_w = 14.0
    for section in outline:
        link = pdf.add_link(page=section.page_number)
        name = pdf.plain(section.name)
        pdf.set_font(FONT, "", 11)
        name_w = pdf.get_string_width(name) + 2
        y = pdf.get_y()
        pdf.cell(name_w, 8, name, link=link)
        pdf.set_draw_color(*GREY)
        pdf.set_dash_pattern(dash=0.3, gap=1.2)
        pdf.line(pdf.get_x() + 1, y + 5.6, pdf.w - pdf.r_margin - number_w - 1, y + 5.6)
        pdf.set_dash_pattern()
        pdf.set_x(pdf.w - pdf.r_margin - number_w)
        pdf.cell(
            number_w,
            8,
            str(section.page_number),
            align="R",
            link=link,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(6)
    pdf.paragraph(
        "Page numbers refer to this document; each line is a link. The tables are also in the "
        "workbook that comes with this pack.",
        size=8.5,
        colour=GREY,
    )


def _cover(pdf: MarkedPdf, report: QuarterlyReport, borough_name: str, generated_on: date) -> None:
    pdf.add_page()
    pdf.set_y(60)
    pdf.set_font(FONT, "", 14)
    pdf.multi_cell(0, 7, pdf.plain(borough_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    pdf.set_font(FONT, "B", 22)
    pdf.multi_cell(0, 10, GROUP_NAME, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font(FONT, "", 15)
    pdf.multi_cell(0, 8, "Quarterly pack", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 8, pdf.plain(report.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(10)
    pdf.set_draw_color(*GREY)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + 60, pdf.get_y())
    pdf.ln(6)
    pdf.paragraph(f"Generated {_long_day(generated_on)}", size=11)
    pdf.ln(1)
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(
        0, 5.5, f"Marking: {pdf.plain(pdf.marking)}", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.ln(1)
    statement = suppression_statement(report)
    pdf.multi_cell(0, 5.5, statement, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if report.suppressed and report.suppressed_cells:
        pdf.paragraph(
            f"{report.suppressed_cells} figures of the headline and ward tables show as "
            f"<{report.threshold}.",
            size=9.5,
            colour=GREY,
        )
    if report.synthetic:
        pdf.ln(3)
        pdf.set_font(FONT, "B", 11)
        pdf.multi_cell(
            0,
            5.5,
            "Synthetic demo data: no real people, places or incidents",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.set_y(-60)
    pdf.paragraph(
        "Serious violence and its parts this quarter; counts and rates by ward; hotspots over "
        "the last eight quarters; trends; and the partnership's action plan by VRU theme. "
        "Handle and store this pack according to its marking.",
        size=9,
        colour=GREY,
    )


def _headline(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[0])  # the contents placeholder has already turned the page
    quarter = report.quarter
    end = quarter.end
    shown = ("this_quarter", "previous_quarter", "same_quarter_last_year", "rolling_12_months")
    headings = [
        "Measure",
        f"This quarter\n{quarter.label}",
        f"Previous\n{quarter.previous().label}",
        f"Same quarter\nlast year\n{quarter.same_quarter_last_year().label}",
        f"Rolling\n12 months to\n{end:%b %Y}",
        *_COMPARISON_HEADINGS.values(),
    ]
    pdf.paragraph(
        f"Incidents recorded in {report.title}, compared with the previous quarter, the same "
        "quarter last year, and the 12 months to the quarter's end with the 12 months before.",
        size=9,
    )
    pdf.ln(1.5)
    bold = FontFace(emphasis="BOLD")
    rows: list[list[Cell]] = []
    for row in report.headline.itertuples(index=False):
        values: list[Cell] = [(str(row.label), bold)]
        values += [_count_text(getattr(row, column)) for column in shown]
        for prefix in COMPARISONS:
            words = str(getattr(row, f"{prefix}_words"))
            significant = getattr(row, f"{prefix}_significant")
            values.append((words, bold) if significant is True else words)
        rows.append(values)
    _table(
        pdf,
        headings,
        rows,
        (25, 17.5, 17, 17.5, 18, 28.3, 28.3, 28.4),
        size=7.5,
        heading_size=7,
        align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "LEFT", "LEFT", "LEFT"),
    )
    pdf.ln(2)
    pdf.paragraph(CHANGE_TEST_SENTENCE, size=8.5)
    if report.suppressed:
        pdf.paragraph(
            f"{suppression_statement(report)}. Changes are worked out from the rounded counts, "
            "so they may differ a little from the true change; the verdict is the test's on the "
            "true counts, and a comparison that would reveal a hidden count is left out.",
            size=8.5,
            colour=GREY,
        )
    else:
        pdf.set_font(FONT, "B", 8.5)
        pdf.multi_cell(
            0,
            4.25,
            "INTERNAL: the counts are exact, with no small-number suppression; do not "
            "circulate outside the analysts' team.",
            align="L",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.paragraph(
        "Changes in bold are more than chance. A dash means the data does not cover that period.",
        size=8.5,
        colour=GREY,
    )
    pdf.ln(1)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(0, 5, "What each measure counts", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.bullets(
        [f"{measure.label}: {measure.definition}." for measure in MEASURES.values()], size=8
    )


def _notes(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[1], keep_mm=40)
    by_note: dict[str, list[str]] = {}
    for row in report.headline.itertuples(index=False):
        if isinstance(row.note, str) and row.note:
            by_note.setdefault(row.note, []).append(str(row.label))
    measure_notes = [  # one line per note, not the same words under each of seven measures
        f"{'Every measure' if len(labels) == len(report.headline) else ', '.join(labels)}: {note}."
        for note, labels in by_note.items()
    ]
    lines = [*report.notes, *measure_notes]
    if lines:
        pdf.bullets(lines, size=8.5)
    else:
        pdf.paragraph("Nothing limits this quarter's figures.", size=9)


def _wards(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[2], new_page=True)
    pdf.paragraph(
        f"Serious violence in {report.title}, per 1,000 residents (population from the "
        f"store). Classes: {_shown_classes(report)[0].label}.",
        size=9,
    )
    pdf.ln(1)
    if report.ward_map.empty:
        pdf.paragraph("No wards are loaded, so there is no map.", colour=GREY)
        return
    pdf.picture(
        _ward_map_png(report),
        _PAGE_WIDTH_MM,
        f"Map of serious violence per 1,000 residents by ward, {report.quarter.label}",
    )
    classes, by_code = _shown_classes(report)
    ranges = _class_ranges(classes)
    rows: list[list[Cell]] = []
    for ward in report.wards.sort_values("name").itertuples(index=False):
        rate = "" if is_missing(ward.rate_per_1000) else f"{float(ward.rate_per_1000):.1f}"
        number = by_code.get(str(ward.code))
        rate_class = "no rate" if number is None else f"{number} ({ranges.get(number, '')})"
        population = "not known" if is_missing(ward.population) else f"{int(ward.population):,}"
        rows.append(
            [str(ward.name), str(ward.code), population, _count_text(ward.count), rate, rate_class]
        )
    pdf.set_font(FONT, "B", 10)
    if pdf.will_page_break(40):
        pdf.add_page()
    pdf.cell(0, 6, "Wards", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _table(
        pdf,
        ["Ward", "Code", "Population", "Serious violence", "Rate per 1,000", "Class (range)"],
        rows,
        (50, 26, 24, 26, 24, 30),
        size=8,
        align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "LEFT"),
    )


def _hotspots(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[3], new_page=True)
    pdf.paragraph(
        "Each 250 m cell of the borough's grid classed by how it has been a hotspot of serious "
        f"violence over the quarters to {report.quarter.label} (Getis-Ord Gi* per quarter and a "
        "Mann-Kendall trend test, in the spirit of emerging hot spot analysis).",
        size=9,
    )
    pdf.ln(1)
    if not report.ward_map.empty:
        pdf.picture(
            _hotspot_map_png(report),
            _PAGE_WIDTH_MM,
            f"Map of hotspot patterns over the quarters to {report.quarter.label}",
        )
    if not report.pattern_counts:
        pdf.paragraph(
            "Hotspots over time could not be worked out for this quarter (see the notes).",
            colour=GREY,
        )
    else:
        if pdf.will_page_break(60):
            pdf.add_page()
        pdf.set_font(FONT, "B", 10)
        pdf.cell(0, 6, "Cells by pattern", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        rows: list[list[Cell]] = []
        for pattern, cells in report.pattern_counts.items():
            colour = emerging_hotspots.PATTERN_COLOURS[pattern]
            fill = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
            rows.append([("", FontFace(fill_color=fill)), pattern, f"{cells:,}"])
        _table(pdf, ["", "Pattern", "Cells"], rows, (8, 40, 20), size=8)
    opening, patterns = _rules_parts(report.hotspot_rules)
    if pdf.will_page_break(50):
        pdf.add_page()
    pdf.ln(2)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "How cells are classed", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(opening, size=8)
    pdf.bullets(patterns, size=8)
    pdf.paragraph(
        "The workbook's Hotspots sheet lists every mapped cell with its pattern and trend.",
        size=8,
        colour=GREY,
    )


def _trends(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[4], new_page=True)
    first, last = report.monthly["month"].iloc[[0, -1]]
    pdf.paragraph(
        f"Serious violence per month, {first:%B %Y} to {last:%B %Y}; the bars of "
        f"{report.quarter.label} are shaded.",
        size=9,
    )
    pdf.picture(
        _monthly_png(report),
        _PAGE_WIDTH_MM,
        f"Bar chart of serious violence per month, {report.quarter.label} shaded",
    )
    pdf.ln(3)
    if report.weekday_hour is None:
        pdf.paragraph(
            "No incident of the quarter has a time of day (police.uk gives the month only), so "
            "there is no weekday and hour chart.",
            size=9,
            colour=GREY,
        )
        return
    without_time = int(report.weekday_hour.attrs.get("without_time", 0))
    note = (
        f" {without_time:,} incidents without a time of day are left out." if without_time else ""
    )
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "By weekday and hour", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(
        f"Serious violence in {report.quarter.label} by day of the week and hour of the day."
        + note,
        size=9,
    )
    pdf.picture(
        _weekday_hour_png(report.weekday_hour),
        _PAGE_WIDTH_MM,
        f"Heatmap of serious violence by weekday and hour, {report.quarter.label}",
    )


def _rag_cell(rag: str) -> tuple[str, FontFace]:
    fill, ink = _RAG_STYLES.get(rag, _RAG_STYLES[RAG_NONE])
    return rag, FontFace(emphasis="BOLD", fill_color=fill, color=ink)


def _action_plan(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[5], new_page=True)
    pdf.paragraph(
        f"The actions of every plan as they stood on {_long_day(report.quarter.end)}, the "
        "quarter's last day, by theme of the London VRU's delivery plan. An overdue action "
        "counts as overdue only.",
        size=9,
    )
    pdf.ln(1)
    rows: list[list[Cell]] = []
    for theme in report.themes.itertuples(index=False):
        rows.append(
            [
                f"{theme.vru_theme}. {theme.theme}",
                *(str(getattr(theme, column)) for column in _THEME_COUNTS),
                _rag_cell(str(theme.rag)),
                str(theme.why),
            ]
        )
    _table(
        pdf,
        [
            "VRU theme",
            "Actions",
            "Done",
            "On track",
            "Not started",
            "At risk",
            "Overdue",
            "Dropped",
            "RAG",
            "Why",
        ],
        rows,
        (41, 13, 11, 12, 13, 11, 15, 15, 16, 33),
        size=7.5,
        heading_size=6.5,
        align=("LEFT", *("RIGHT",) * 7, "CENTER", "LEFT"),
    )
    pdf.ln(2)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(0, 5, "How the RAG status is set", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.bullets(RAG_RULES, size=8)


def _action_rows(actions: pd.DataFrame, quarter_end: date, *, overdue: bool) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for action in actions.itertuples(index=False):
        due = pd.Timestamp(action.due_on).date()
        last = f"{(quarter_end - due).days}" if overdue else _status_label(action.status)
        rows.append(
            [
                truncate(str(action.plan_title), _TITLE_MAX),
                f"#{action.action_id} " + truncate(str(action.description), _DESCRIPTION_MAX),
                str(action.vru_theme),
                truncate(str(action.owner_agency), _AGENCY_MAX),
                _day(action.due_on),
                last,
            ]
        )
    return rows


# the count columns of action_plan.theme_progress, between the theme's name and its RAG
_THEME_COUNTS = tuple(
    PROGRESS_COLUMNS[PROGRESS_COLUMNS.index("actions") : PROGRESS_COLUMNS.index("rag")]
)


def _action_section(
    pdf: MarkedPdf,
    section: str,
    intro: str,
    none_text: str,
    actions: pd.DataFrame,
    report: QuarterlyReport,
    *,
    overdue: bool,
) -> None:
    _section(pdf, section)
    pdf.paragraph(intro, size=9)
    if actions.empty:
        pdf.paragraph(none_text, size=9, colour=GREY)
        return
    pdf.ln(1)
    _table(
        pdf,
        ["Plan", "Action", "Theme", "Owner", "Due", "Days overdue" if overdue else "Status"],
        _action_rows(actions, report.quarter.end, overdue=overdue),
        _ACTION_WIDTHS,
        size=7.5,
        heading_size=7,
    )


def _actions_due(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    following = report.quarter.next()
    _action_section(
        pdf,
        SECTIONS[6],
        f"Open actions due in {following.label} ({following.months_label}), soonest first, as "
        f"they stood on {_long_day(report.quarter.end)}.",
        "No open action is due next quarter.",
        report.due_next,
        report,
        overdue=False,
    )


def _overdue(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _action_section(
        pdf,
        SECTIONS[7],
        f"Actions still open after their due date on {_long_day(report.quarter.end)}, longest "
        "overdue first.",
        "No action was overdue at the quarter's end.",
        report.overdue,
        report,
        overdue=True,
    )


def _plans(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[8])
    opened, closed = report.plans_opened, report.plans_closed
    pdf.paragraph(
        f"Problem-solving plans started in {report.quarter.label}: {len(opened)}; closed in "
        f"it: {len(closed)}.",
        size=9,
    )
    if len(opened):
        pdf.ln(1)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(0, 5, "Opened", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        _table(
            pdf,
            ["Plan", "Started", "Stage now", "Status now", "Actions"],
            [
                [
                    truncate(str(plan.title), _TITLE_MAX),
                    _day(plan.started_on),
                    _sara_label(getattr(plan, "sara_stage", "")),
                    _plan_status_label(plan.status),
                    str(getattr(plan, "total_actions", "")),
                ]
                for plan in opened.itertuples(index=False)
            ],
            (88, 24, 24, 24, 20),
            size=7.5,
        )
    if len(closed):
        pdf.ln(1)
        pdf.set_font(FONT, "B", 9)
        pdf.cell(0, 5, "Closed", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        _table(
            pdf,
            ["Plan", "Started", "Closed"],
            [
                [truncate(str(plan.title), _TITLE_MAX), _day(plan.started_on), _day(plan.closed_on)]
                for plan in closed.itertuples(index=False)
            ],
            (120, 30, 30),
            size=7.5,
        )


def _sources(pdf: MarkedPdf, report: QuarterlyReport) -> None:
    _section(pdf, SECTIONS[9], new_page=True)
    sources = report.sources
    if sources.empty:
        pdf.paragraph("No incidents are loaded.", size=9)
    else:
        pdf.paragraph(
            "Where the incidents come from, and when each source was last loaded.", size=9
        )
        pdf.ln(1)
        _table(
            pdf,
            ["Source", "Incidents", "First date", "Last date", "Month-only dates", "Last imported"],
            [
                [
                    _source_name(row.source),
                    f"{int(row.incidents):,}",
                    _day(row.first_on),
                    _day(row.last_on),
                    f"{int(row.month_only or 0):,}",
                    "not imported (seeded)"
                    if is_missing(row.last_imported_at)
                    else f"{pd.Timestamp(row.last_imported_at):%d %b %Y %H:%M}",
                ]
                for row in sources.itertuples(index=False)
            ],
            (38, 22, 26, 26, 28, 40),
            size=8,
            align=("LEFT", "RIGHT", "LEFT", "LEFT", "RIGHT", "LEFT"),
        )
        total = int(sources["incidents"].sum())
        month_only = int(sources["month_only"].fillna(0).sum())
        pdf.ln(1)
        pdf.bullets(
            [
                f"{total:,} incidents held; {month_only:,} of them dated to the month only "
                "(they count in the right quarter, but have no day or time).",
                "Counts are by the date an incident occurred, not the date it was recorded; "
                "late records can change a quarter's figures after the meeting.",
            ],
            size=8.5,
        )
    pdf.ln(1)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "What the sources can and cannot tell", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.bullets(_markdown_items(SOURCE_NOTES_MARKDOWN), size=8.5)
    pdf.ln(1)
    pdf.set_font(FONT, "B", 10)
    pdf.cell(0, 6, "Attribution", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.bullets(_markdown_items(ATTRIBUTION_MARKDOWN), size=8.5)
    if report.synthetic:
        pdf.ln(2)
        pdf.set_font(FONT, "B", 10)
        pdf.cell(0, 6, "Synthetic demo data", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.paragraph(
            "The incidents, plans, actions and people in this pack are synthetic, made up to "
            "demonstrate the dashboard; only the ward boundaries and the knife bins are real. "
            "Do not read anything in it as a fact about the borough.",
            size=8.5,
        )


def pack_pdf(
    report: QuarterlyReport, *, borough_name: str, generated_on: date, marking: str
) -> bytes:
    """The quarterly pack for the meeting papers, as an A4 PDF.

    Parameters
    ----------
    report
        The quarter's report (``quarterly_report.build_report``); suppressed or not, it is
        printed as it is, and the cover says which.
    borough_name
        Printed on the cover, e.g. "Wandsworth".
    generated_on
        The date printed on the cover and at the foot of every page.
    marking
        The Government Security Classifications marking (e.g. "OFFICIAL-SENSITIVE"), printed at
        the top and bottom of every page.

    Returns
    -------
    bytes
        The PDF: a cover, a contents page, then ``SECTIONS`` in order (the headline table, notes,
        the ward map and table, the hotspots-over-time map, trend charts, the action plan by VRU
        theme with RAG, actions due and overdue, plans opened and closed, data quality and
        sources), with "Page n of N". All text is real text (DejaVu Sans); typed text (plan
        titles, action descriptions) is printed as plain text and cut where it would outgrow a
        table.

    Raises
    ------
    ValueError
        The marking or the borough name is blank.
    """
    if not marking or not marking.strip():
        raise ValueError(
            "marking is blank; give the pack's classification, e.g. OFFICIAL-SENSITIVE"
        )
    if not borough_name or not borough_name.strip():
        raise ValueError("borough_name is blank; give the borough the pack is for")
    pdf = MarkedPdf(marking.strip(), f"{generated_on:%d %b %Y}", report.synthetic)
    pdf.set_title(pdf.plain(f"{borough_name.strip()} {GROUP_NAME}: {report.title}"))
    pdf.set_subject(pdf.plain(f"{marking.strip()}: quarterly pack"))
    pdf.set_creator("Community Safety Map")
    pdf.set_lang("en-GB")
    _cover(pdf, report, borough_name.strip(), generated_on)
    pdf.add_page()
    pdf.insert_toc_placeholder(_render_contents, pages=1)
    _headline(pdf, report)
    _notes(pdf, report)
    _wards(pdf, report)
    _hotspots(pdf, report)
    _trends(pdf, report)
    _action_plan(pdf, report)
    _actions_due(pdf, report)
    _overdue(pdf, report)
    _plans(pdf, report)
    _sources(pdf, report)
    data = bytes(pdf.output())
    log.info(
        "quarterly pack PDF exported: %s, %d pages, %s, sha256 %s",
        report.quarter.label,
        pdf.pages_count,
        "suppressed" if report.suppressed else "internal",
        hashlib.sha256(data).hexdigest(),
    )
    return data


def page_count(pdf: bytes) -> int:
    """How many pages a PDF written by ``pack_pdf`` has: its page objects, counted.

    fpdf2 writes every page's dictionary uncompressed, so no PDF reader is needed. Raises
    ValueError when the bytes hold no page (not a PDF from this module).
    """
    pages = len(_PAGE_OBJECT.findall(pdf))
    if not pages:
        raise ValueError("no page objects found; expected a PDF written by pack_pdf")
    return pages


# --- the workbook --------------------------------------------------------------------------------


def _text(value: str) -> str:
    return str(formula_safe(_ILLEGAL_XML.sub("", value)))


def _excel_value(value: object) -> object:
    """A value openpyxl writes as it should appear: numbers, dates, guarded text, blanks."""
    if is_missing(value):
        return None
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)  # Excel has no time zones; the store keeps UTC-less
    if isinstance(value, str):
        return _text(value)
    return value


def _write_sheet(workbook: Workbook, title: str, frame: pd.DataFrame, marking: str) -> None:
    """One sheet: bold headings, frozen, filtered, sized columns, the marking when printed."""
    sheet = workbook.create_sheet(title)
    sheet.append([_text(str(column)) for column in frame.columns])
    for values in frame.itertuples(index=False):
        sheet.append([_excel_value(value) for value in values])
    fill = PatternFill("solid", fgColor="E8ECF1")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = fill
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    for index, column in enumerate(frame.columns, start=1):
        longest = max(
            [len(str(column))] + [len(str(value)) for value in frame.iloc[:200, index - 1]]
        )
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(8, longest + 2))
    sheet.freeze_panes = "A2"
    if len(frame.columns) and len(frame):
        sheet.auto_filter.ref = sheet.dimensions
    sheet.oddHeader.center.text = marking
    sheet.oddFooter.center.text = f"{marking}  Page &P of &N"


def _suppressed_counts(
    frame: pd.DataFrame, columns: Sequence[str], report: QuarterlyReport
) -> pd.DataFrame:
    if not report.suppressed:
        return frame
    shown, _ = quarterly.suppress_table(frame, columns, report.threshold, DEFAULT_BASE)
    return shown


def _counts_as_values(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    shown = frame.copy()
    for column in columns:
        shown[column] = pd.Series([_count_value(v) for v in frame[column]], dtype=object)
    return shown


def _headline_sheet(report: QuarterlyReport) -> pd.DataFrame:
    headline = report.headline
    headings = _period_headings(report.quarter)
    frame = pd.DataFrame(
        {
            "Measure": headline["label"],
            "What it counts": [MEASURES[key].definition for key in headline["measure"]],
        }
    )
    for column in PERIOD_COLUMNS:
        frame[headings[column]] = [_count_value(value) for value in headline[column]]
    for prefix, title in _COMPARISON_HEADINGS.items():
        frame[f"Change {title}"] = headline[f"{prefix}_change"].astype(object)
        frame[f"Change % {title}"] = [
            None if is_missing(value) else round(float(value), 1)
            for value in headline[f"{prefix}_pct"]
        ]
        frame[f"p-value {title}"] = headline[f"{prefix}_p"].astype(object)
        frame[f"More than chance {title}"] = headline[f"{prefix}_significant"].astype(object)
        frame[f"In words {title}"] = headline[f"{prefix}_words"]
    frame["Victim age recorded (share)"] = headline["age_recorded_share"].astype(object)
    frame["Note"] = headline["note"]
    return frame


def _wards_sheet(report: QuarterlyReport) -> pd.DataFrame:
    rate_classes, by_code = _shown_classes(report)
    ranges = _class_ranges(rate_classes)
    wards = report.wards
    classes = [by_code.get(str(code)) for code in wards["code"]]
    return pd.DataFrame(
        {
            "Ward code": wards["code"],
            "Ward": wards["name"],
            "Population": wards["population"].astype(object),
            f"Serious violence {report.quarter.label}": [
                _count_value(value) for value in wards["count"]
            ],
            "Rate per 1,000 residents": [
                None if is_missing(value) else round(float(value), 2)
                for value in wards["rate_per_1000"]
            ],
            "Class (1 = lowest)": classes,
            "Class range": [ranges.get(number, "") if number else "" for number in classes],
        }
    )


def _hotspots_sheet(report: QuarterlyReport) -> pd.DataFrame:
    patterns = report.hotspot_patterns
    columns = {
        "cell_id": "Cell (easting_northing of the south-west corner, EPSG:27700)",
        "pattern": "Pattern",
        "hot_periods": "Quarters hot",
        "hot_in_last": f"Hot in {report.quarter.label}",
        "trend": "Trend",
        "trend_tau": "Kendall tau",
        "trend_p": "Trend p-value",
        "incident_count": f"Serious violence {report.quarter.label}",
    }
    present = [column for column in columns if column in patterns.columns]
    frame = patterns[present].copy()
    for column, places in (("trend_tau", 3), ("trend_p", 4)):
        if column in frame.columns:
            frame[column] = frame[column].astype(float).round(places)
    if "incident_count" in frame.columns:
        frame = _counts_as_values(frame, ["incident_count"])
    return frame.rename(columns=columns)


def _monthly_sheet(report: QuarterlyReport) -> pd.DataFrame:
    monthly = _suppressed_counts(report.monthly, ["incidents"], report)
    months = pd.to_datetime(monthly["month"])
    uncovered = _months_before_data(months, report.sources)
    return pd.DataFrame(
        {
            "Month": months.dt.date,
            "Serious violence": [
                None if index < uncovered else _count_value(value)
                for index, value in enumerate(monthly["incidents"])
            ],
            "Data covers the month": [index >= uncovered for index in range(len(monthly))],
            f"In {report.quarter.label}": monthly["in_quarter"].astype(bool),
        }
    )


def _weekday_hour_sheet(report: QuarterlyReport, table: pd.DataFrame) -> pd.DataFrame:
    columns = [str(column) for column in table.columns]
    frame = table.reset_index(names="Weekday")
    frame.columns = ["Weekday", *columns]
    frame = _suppressed_counts(frame, columns, report)
    return _counts_as_values(frame, columns)


def _themes_sheet(report: QuarterlyReport) -> pd.DataFrame:
    themes = report.themes
    return pd.DataFrame(
        {
            "VRU theme": themes["vru_theme"],
            "Theme": themes["theme"],
            "Actions": themes["actions"],
            "Done": themes["done"],
            "On track": themes["on_track"],
            "Not started": themes["not_started"],
            "At risk": themes["at_risk"],
            "Overdue": themes["overdue"],
            "Dropped": themes["dropped"],
            "RAG": themes["rag"],
            "Why": themes["why"],
        }
    )


_ACTION_SHEET_COLUMNS = [
    "Plan",
    "Action id",
    "Action",
    "VRU theme",
    "Owner agency",
    "Due",
    "Status",
    "Flag",
]


def _actions_sheet(actions: pd.DataFrame) -> pd.DataFrame:
    if actions.empty:
        return pd.DataFrame(columns=_ACTION_SHEET_COLUMNS)
    return pd.DataFrame(
        {
            "Plan": actions["plan_title"],
            "Action id": actions["action_id"],
            "Action": actions["description"],
            "VRU theme": [
                f"{int(theme)}. {VRU_THEMES.get(int(theme), '')}" for theme in actions["vru_theme"]
            ],
            "Owner agency": actions["owner_agency"],
            "Due": pd.to_datetime(actions["due_on"]).dt.date,
            "Status": [_status_label(value) for value in actions["status"]],
            "Flag": actions["flag"],
        },
        columns=_ACTION_SHEET_COLUMNS,
    )


def _plans_sheet(report: QuarterlyReport) -> pd.DataFrame:
    columns = ["Change", "Plan id", "Plan", "Started", "Closed", "Status now", "Stage now"]
    rows = []
    for change, frame in (("opened", report.plans_opened), ("closed", report.plans_closed)):
        for plan in frame.itertuples(index=False):
            rows.append(
                {
                    "Change": change,
                    "Plan id": plan.plan_id,
                    "Plan": plan.title,
                    "Started": None
                    if is_missing(plan.started_on)
                    else pd.Timestamp(plan.started_on).date(),
                    "Closed": pd.Timestamp(plan.closed_on).date()
                    if change == "closed" and not is_missing(plan.closed_on)
                    else None,
                    "Status now": _plan_status_label(plan.status),
                    "Stage now": _sara_label(getattr(plan, "sara_stage", "")),
                }
            )
    return pd.DataFrame(rows, columns=columns)


def _sources_sheet(report: QuarterlyReport) -> pd.DataFrame:
    sources = report.sources
    return pd.DataFrame(
        {
            "Source": [_source_name(value) for value in sources["source"]],
            "Incidents": sources["incidents"],
            "First date": pd.to_datetime(sources["first_on"]).dt.date,
            "Last date": pd.to_datetime(sources["last_on"]).dt.date,
            "Month-only dates": sources["month_only"],
            "Last imported": sources["last_imported_at"].astype(object),
        },
        columns=[
            "Source",
            "Incidents",
            "First date",
            "Last date",
            "Month-only dates",
            "Last imported",
        ],
    )


def _about_sheet(
    report: QuarterlyReport, marking: str, generated_on: date, borough_name: str | None
) -> pd.DataFrame:
    rate_classes = _shown_classes(report)[0]
    ranges = "; ".join(
        f"class {index}: {text}" for index, text in enumerate(rate_classes.legend, 1)
    )
    rows: list[tuple[str, str]] = [
        ("Pack", f"{GROUP_NAME} quarterly pack: tables"),
        ("Borough", borough_name or ""),
        ("Quarter", report.title),
        ("Marking", marking),
        ("Generated", _long_day(generated_on)),
        ("Small numbers", suppression_statement(report)),
        (
            "Synthetic demo data",
            "yes: no real people, places or incidents" if report.synthetic else "no",
        ),
        ("Change test", CHANGE_TEST_SENTENCE),
        ("Ward rate classes", f"{rate_classes.label}; {ranges}"),
        ("Hotspots over time", report.hotspot_rules.replace("\n", " ")),
        ("RAG status", " ".join(RAG_RULES)),
    ]
    rows += [("Note", note) for note in report.notes]
    rows += [("Source limits", item) for item in _markdown_items(SOURCE_NOTES_MARKDOWN)]
    rows += [("Attribution", item) for item in _markdown_items(ATTRIBUTION_MARKDOWN)]
    return pd.DataFrame(rows, columns=["About", "Value"])


def pack_workbook(
    report: QuarterlyReport,
    *,
    marking: str = "OFFICIAL-SENSITIVE",
    generated_on: date | None = None,
    borough_name: str | None = None,
) -> bytes:
    """The pack's tables as an Excel workbook (.xlsx), one sheet per table.

    Parameters
    ----------
    report
        The quarter's report; a suppressed report gives suppressed sheets (the monthly and
        weekday-by-hour counts are suppressed here too, as they are not in the report).
    marking
        Printed at the top and bottom of every sheet when printed, and on the About sheet.
    generated_on
        The date the About sheet gives; today in London when None.
    borough_name
        For the About sheet.

    Returns
    -------
    bytes
        The workbook, with the sheets of ``WORKBOOK_SHEETS`` ("Weekday x hour" only when the
        report has it). Counts are numbers, a hidden count the text "<10"; text that starts
        with = + - @ begins with an apostrophe, so a spreadsheet shows it rather than running it.
    """
    generated_on = generated_on or today_in_london()
    workbook = Workbook()
    workbook.remove(workbook.active)
    builders: list[tuple[str, Callable[[], pd.DataFrame]]] = [
        ("Headline", lambda: _headline_sheet(report)),
        ("Wards", lambda: _wards_sheet(report)),
        ("Hotspots", lambda: _hotspots_sheet(report)),
        ("Monthly", lambda: _monthly_sheet(report)),
    ]
    weekday_hour = report.weekday_hour
    if weekday_hour is not None:
        builders.append(("Weekday x hour", lambda: _weekday_hour_sheet(report, weekday_hour)))
    builders += [
        ("Action plan", lambda: _themes_sheet(report)),
        ("Due next quarter", lambda: _actions_sheet(report.due_next)),
        ("Overdue", lambda: _actions_sheet(report.overdue)),
        ("Plans", lambda: _plans_sheet(report)),
        ("Sources", lambda: _sources_sheet(report)),
        ("About", lambda: _about_sheet(report, marking, generated_on, borough_name)),
    ]
    for title, build in builders:
        _write_sheet(workbook, title, build(), marking)
    workbook["About"].column_dimensions["B"].width = 100
    workbook.properties.title = f"{GROUP_NAME}: {report.title}"
    workbook.properties.creator = "Community Safety Map"
    workbook.properties.subject = marking
    buffer = io.BytesIO()
    workbook.save(buffer)
    data = buffer.getvalue()
    log.info(
        "quarterly pack workbook exported: %s, %d sheets, %s, sha256 %s",
        report.quarter.label,
        len(builders),
        "suppressed" if report.suppressed else "internal",
        hashlib.sha256(data).hexdigest(),
    )
    return data
