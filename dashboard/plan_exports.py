"""Plan files for people outside the app: every action as CSV, and a plan's summary as PDF.

The PDF is what a CSO hands round at a task-and-finish meeting: the plan, its evidence, and every
action grouped by VRU theme with its last few updates. Everything here is a plain function of
the objects the caller already holds (a ``PlanRecord``, the ``plans.actions()`` frame, update
trails, an evidence summary); nothing reads the store or Streamlit.

Text a person typed is only ever written as plain text: never through fpdf2's ``write_html`` or
``markdown=True``, so ``<b>`` or ``**`` in a title is printed as typed. The marked A4 page and
the text guards are ``dashboard.pdf``'s; the pictures' canvas, view and map finish are
``dashboard.static_maps``'s.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
from fpdf import FontFace
from fpdf.enums import CellBordersLayout, TableBordersLayout, XPos, YPos
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from dashboard import static_maps
from dashboard.frames import require_columns
from dashboard.geo import BNG, WGS84, wgs84_to_bng
from dashboard.pdf import (
    FONT,
    GREY,
    HEADING_FILL,
    MarkedPdf,
    formula_safe,
    is_missing,
    small_table,
    truncate,
)
from dashboard.plan_evidence import Assessment, PlanEvidence, describe_assessment
from dashboard.plans import (
    ACTION_STATUS_LABELS,
    FLAG_AT_RISK,
    FLAG_ORDER,
    FLAG_OVERDUE,
    HISTORY_COLUMNS,
    PLAN_STATUS_LABELS,
    SARA_LABELS,
    VRU_THEMES,
    PlanRecord,
    action_flag,
)
from dashboard.static_maps import AREA_MAP_SIZE_PX
from dashboard.store.models import ActionStatus, PlanStatus

__all__ = [
    "AREA_MAP_SIZE_PX",
    "CSV_COLUMNS",
    "MONTHLY_CHART_SIZE_PX",
    "PlanEvidenceSummary",
    "actions_csv",
    "monthly_incidents_png",
    "plan_area_png",
    "plan_summary_pdf",
]

log = logging.getLogger(__name__)

# Readable CSV headers, in order, and the ``ACTION_COLUMNS`` each is built from
CSV_COLUMNS = (
    "Plan",
    "Plan status",
    "Action id",
    "Description",
    "VRU theme",
    "Owner agency",
    "Owner",
    "Due",
    "Status",
    "Flag",
    "Last update",
    "Updated by",
)
_CSV_SOURCE_COLUMNS = (
    "plan_title",
    "plan_status",
    "action_id",
    "description",
    "vru_theme",
    "owner_agency",
    "owner_name",
    "due_on",
    "status_label",
    "flag",
    "last_update_at",
    "last_update_by",
)
_PDF_ACTION_COLUMNS = (
    "action_id",
    "plan_id",
    "description",
    "vru_theme",
    "owner_agency",
    "owner_name",
    "due_on",
    "status",
)
MONTHLY_CHART_SIZE_PX = (1440, 420)  # 7.2 x 2.1 in: printed near full size across A4
UPDATES_SHOWN = 3  # the last three updates answer "what happened since the last meeting?"
# Table cells are cut here so one action cannot outgrow a page; the app holds the full text
DESCRIPTION_MAX = 600
UPDATE_TEXT_MAX = 300

_OVERDUE_FILL = (253, 222, 220)
_AT_RISK_FILL = (255, 239, 204)
_ATTENTION_LABELS = {FLAG_OVERDUE: "OVERDUE", FLAG_AT_RISK: "AT RISK"}
_AREA_EDGE = "#1f3b73"
_BIN_COLOUR = "#111111"
_BUS_STOP_COLOUR = "#1565c0"
_ACTION_COLOUR = "#7b1fa2"


@dataclass(frozen=True, eq=False)  # eq=False: comparing frames field by field is ambiguous
class PlanEvidenceSummary:
    """The evidence section of a plan summary, already worked out by the caller.

    Attributes
    ----------
    incidents_in_area
        Incidents recorded inside the plan area over ``period_label``.
    period_label
        The period the counts cover, as people read it: "Nov 2025 to Oct 2026".
    monthly
        Columns ``month`` (date, first of the month) and ``incident_count`` (int), oldest first.
    comparison_lines
        Plain sentences, e.g. "12 weeks before the plan: 41; latest 12 weeks: 29 (-29%)".
    assets_nearby
        Columns ``name``, ``kind`` and ``distance_m`` (metres from the area), nearest first.
    overlapping
        Other plans sharing the area: ``title``, ``status`` and ``overlap_pct`` (0-100).
    area_map_png
        A picture of the area (``plan_area_png``), or None to leave the map out.
    assessment_lines
        Weighted displacement difference sentences; may be empty.
    """

    incidents_in_area: int
    period_label: str
    monthly: pd.DataFrame
    comparison_lines: tuple[str, ...] = ()
    assets_nearby: pd.DataFrame | None = None
    overlapping: pd.DataFrame | None = None
    area_map_png: bytes | None = None
    assessment_lines: tuple[str, ...] = ()


# --- CSV -----------------------------------------------------------------------------------------


def _plan_status_label(value: object) -> str:
    if is_missing(value):
        return ""
    try:
        return PLAN_STATUS_LABELS[PlanStatus(value)]
    except ValueError:
        return str(value)


def _iso_date(value: object) -> str:
    if is_missing(value):
        return ""
    return pd.Timestamp(value).date().isoformat()  # type: ignore[arg-type]


def _iso_minute(value: object) -> str:
    if is_missing(value):
        return ""
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M}"  # type: ignore[arg-type]


def _theme(value: object) -> str:
    if is_missing(value):
        return ""
    number = int(value)  # type: ignore[call-overload]
    return f"{number} {VRU_THEMES.get(number, '')}".strip()


def actions_csv(actions: pd.DataFrame) -> bytes:
    """Every action in ``actions`` as a CSV file a spreadsheet opens cleanly.

    Parameters
    ----------
    actions
        The frame ``dashboard.plans.actions()`` returns (``ACTION_COLUMNS``); rows keep its order.

    Returns
    -------
    bytes
        UTF-8 with a byte-order mark (so Excel reads "Zoë" as typed), CRLF line ends, the
        ``CSV_COLUMNS`` headers. Dates are ISO (``2026-11-07``), the last update is
        ``2026-11-07 14:05`` London time, the VRU theme is "3 Reducing access to weapons".
        A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
        leading apostrophe, so a spreadsheet shows it as text instead of running it (OWASP).

    Raises
    ------
    ValueError
        ``actions`` lacks one of the columns used.
    """
    require_columns(actions, _CSV_SOURCE_COLUMNS, "actions")
    table = pd.DataFrame(
        {
            "Plan": actions["plan_title"],
            "Plan status": actions["plan_status"].map(_plan_status_label),
            "Action id": actions["action_id"].astype("Int64"),
            "Description": actions["description"],
            "VRU theme": actions["vru_theme"].map(_theme),
            "Owner agency": actions["owner_agency"],
            "Owner": actions["owner_name"],
            "Due": actions["due_on"].map(_iso_date),
            "Status": actions["status_label"],
            "Flag": actions["flag"],
            "Last update": actions["last_update_at"].map(_iso_minute),
            "Updated by": actions["last_update_by"],
        },
        columns=list(CSV_COLUMNS),
    )
    for column in CSV_COLUMNS:
        if column != "Action id":
            table[column] = table[column].map(formula_safe).astype(object)
    text = table.to_csv(index=False, lineterminator="\r\n", na_rep="")
    data = text.encode("utf-8-sig")
    log.info(
        "actions CSV exported: %d actions, sha256 %s", len(table), hashlib.sha256(data).hexdigest()
    )
    return data


# --- pictures ------------------------------------------------------------------------------------


def monthly_incidents_png(
    monthly: pd.DataFrame, *, size_px: tuple[int, int] = MONTHLY_CHART_SIZE_PX
) -> bytes:
    """A bar chart of incidents per month, as PNG bytes of ``size_px`` (width, height) pixels.

    ``monthly`` has columns ``month`` (a date in the month) and ``incident_count``; each row is
    one bar, oldest first. An empty frame gives a chart saying there is nothing to show.
    Raises ValueError when a column is missing or ``size_px`` is not positive.
    """
    require_columns(monthly, ("month", "incident_count"), "monthly")
    figure = static_maps.figure(size_px)
    axes = figure.add_subplot()
    rows = monthly.assign(month=pd.to_datetime(monthly["month"])).sort_values("month")
    counts = rows["incident_count"].fillna(0).astype(int).to_numpy()
    months = list(rows["month"])
    positions = np.arange(len(months))
    bars = axes.bar(positions, counts, color="#b2182b", width=0.7)
    axes.bar_label(bars, fontsize=7, padding=1.5, color="#333333")
    # The year is shown under the first month and under each January, so the axis stays short
    axes.set_xticks(
        positions,
        [
            f"{month:%b}\n{month:%Y}" if index == 0 or month.month == 1 else f"{month:%b}"
            for index, month in enumerate(months)
        ],
        fontsize=7.5,
    )
    axes.set_ylabel("Incidents", fontsize=8)
    axes.tick_params(axis="y", labelsize=7.5)
    axes.set_ylim(0, max(1, int(counts.max()) if len(counts) else 1) * 1.18)
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.spines[["top", "right"]].set_visible(False)
    if not len(months):
        axes.text(
            0.5,
            0.5,
            "No months to show",
            ha="center",
            va="center",
            transform=axes.transAxes,
            fontsize=9,
        )
    figure.subplots_adjust(left=0.07, right=0.99, top=0.95, bottom=0.22)
    return static_maps.png(figure)


def plan_area_png(
    area_wgs84: BaseGeometry,
    cells_bng: gpd.GeoDataFrame | None,
    bins_wgs84: gpd.GeoDataFrame | None,
    bus_stops_wgs84: gpd.GeoDataFrame | None,
    action_points: pd.DataFrame | None,
    *,
    size_px: tuple[int, int] = AREA_MAP_SIZE_PX,
) -> bytes:
    """A static map of a plan area, as PNG bytes; drawn in EPSG:27700 with no tiles.

    Parameters
    ----------
    area_wgs84
        The plan area (a polygon or multipolygon in EPSG:4326), outlined.
    cells_bng
        Grid cells with an ``incident_count`` column (EPSG:27700, or any CRS set on the frame),
        shaded yellow to red (``YlOrRd``); None or empty to leave them out.
    bins_wgs84, bus_stops_wgs84
        Knife amnesty bins and bus stops as points (EPSG:4326, or any CRS set on the frame);
        None or empty to leave them out.
    action_points
        Actions with ``longitude`` and ``latitude`` (EPSG:4326) and optionally ``action_id``,
        which labels each point; rows without a place are skipped.
    size_px
        The picture's (width, height) in pixels.

    Returns
    -------
    bytes
        A PNG of exactly ``size_px``: the view is the area plus a margin, with a legend, a
        colour bar for the cells, a scale bar and a note of the grid and scale.

    Raises
    ------
    ValueError
        The area is empty, a frame has no CRS, a column is missing, or ``size_px`` is not positive.
    """
    if area_wgs84 is None or area_wgs84.is_empty:
        raise ValueError("area_wgs84 is empty; give the plan's area (EPSG:4326) to draw")
    area_bng = gpd.GeoSeries([area_wgs84], crs=WGS84).to_crs(BNG)
    cells = static_maps.in_bng(cells_bng, "cells_bng")
    if cells is not None:
        require_columns(cells, ("incident_count",), "cells_bng")
    bins = static_maps.in_bng(bins_wgs84, "bins_wgs84")
    bus_stops = static_maps.in_bng(bus_stops_wgs84, "bus_stops_wgs84")
    points = None
    if action_points is not None and len(action_points):
        require_columns(action_points, ("longitude", "latitude"), "action_points")
        points = action_points.dropna(subset=["longitude", "latitude"])

    figure = static_maps.figure(size_px)
    axes_rect = (0.02, 0.08, 0.84, 0.9)
    axes = figure.add_axes(axes_rect)
    view = static_maps.view(
        area_bng.total_bounds, axes_rect[2] * size_px[0] / (axes_rect[3] * size_px[1])
    )
    view_box = box(*view)
    handles: list[Line2D | Patch] = []
    if cells is not None:
        cells = cells[cells.intersects(view_box)]
    if cells is not None and len(cells):
        # the colour scale covers the cells in view, so one busy cell off-screen cannot wash it out
        norm = Normalize(vmin=0, vmax=max(1, int(cells["incident_count"].max())))
        cells.plot(
            ax=axes,
            column="incident_count",
            cmap="YlOrRd",
            norm=norm,
            edgecolor="white",
            linewidth=0.3,
            zorder=1,
        )
        colour_axes = figure.add_axes((0.875, 0.3, 0.025, 0.55))
        colour_bar = figure.colorbar(ScalarMappable(norm=norm, cmap="YlOrRd"), cax=colour_axes)
        colour_bar.set_label("Incidents per cell", fontsize=8)
        colour_bar.ax.tick_params(labelsize=7.5)
    area_bng.plot(ax=axes, facecolor="none", edgecolor=_AREA_EDGE, linewidth=2.2, zorder=3)
    handles.append(Patch(facecolor="none", edgecolor=_AREA_EDGE, linewidth=2, label="Plan area"))
    if bins is not None:
        bins.plot(
            ax=axes, marker="^", color=_BIN_COLOUR, edgecolor="white", markersize=55, zorder=4
        )
        handles.append(static_maps.marker("^", _BIN_COLOUR, "Knife amnesty bin"))
    if bus_stops is not None:
        bus_stops.plot(
            ax=axes, marker="s", color=_BUS_STOP_COLOUR, edgecolor="white", markersize=45, zorder=4
        )
        handles.append(static_maps.marker("s", _BUS_STOP_COLOUR, "Bus stop"))
    if points is not None and len(points):
        x_bng, y_bng = wgs84_to_bng(
            points["longitude"].to_numpy(float), points["latitude"].to_numpy(float)
        )
        axes.scatter(
            x_bng,
            y_bng,
            marker="o",
            s=40,
            color=_ACTION_COLOUR,
            edgecolor="white",
            linewidth=0.8,
            zorder=5,
        )
        if "action_id" in points.columns:
            for x, y, action_id in zip(x_bng, y_bng, points["action_id"], strict=True):
                axes.annotate(
                    f"#{action_id}",
                    (x, y),
                    xytext=(4, 3),
                    textcoords="offset points",
                    fontsize=7.5,
                    color=_ACTION_COLOUR,
                    zorder=6,
                )
        handles.append(static_maps.marker("o", _ACTION_COLOUR, "Action (with its number)"))

    static_maps.finish_map(
        figure,
        axes,
        view,
        handles,
        "British National Grid (EPSG:27700); north is up. "
        "No background map: the plan area, cells and points only.",
        caption_y=0.025,
    )
    return static_maps.png(figure)


# --- PDF -----------------------------------------------------------------------------------------


def _when(value: object) -> str:
    if is_missing(value):
        return ""
    if isinstance(value, datetime | pd.Timestamp):
        return f"{value:%d %b %Y %H:%M}"
    if isinstance(value, date):
        return f"{value:%d %b %Y}"
    return str(value)


def _day(value: object) -> str:
    return "" if is_missing(value) else f"{pd.Timestamp(value):%d %b %Y}"  # type: ignore[arg-type]


def _updates_text(history: pd.DataFrame | None) -> str:
    if history is None or history.empty:
        return "No updates recorded."
    require_columns(history, HISTORY_COLUMNS, "histories[...]")
    lines = []
    latest = history[HISTORY_COLUMNS].head(UPDATES_SHOWN)
    for when, who, what, comment in latest.itertuples(index=False, name=None):
        line = f"{_when(when)}, {'' if is_missing(who) else who}: "
        line += truncate("" if is_missing(what) else str(what), UPDATE_TEXT_MAX)
        if not is_missing(comment) and str(comment).strip():
            line += f" — “{truncate(str(comment).strip(), UPDATE_TEXT_MAX)}”"
        lines.append(line)
    more = len(history) - UPDATES_SHOWN
    if more > 0:
        lines.append(f"and {more} earlier update{'s' if more > 1 else ''} in the app")
    return "\n".join(lines)


def _plan_facts(pdf: MarkedPdf, plan: PlanRecord) -> None:
    wards = ", ".join(plan.ward_names or plan.ward_codes) or "None recorded"
    review = _day(plan.review_on) or "Not set"
    facts = [
        ("Status", PLAN_STATUS_LABELS.get(PlanStatus(plan.status), str(plan.status))),
        ("SARA stage", SARA_LABELS.get(plan.sara_stage, str(plan.sara_stage))),
        ("Lead CSO", plan.lead_cso_name or "Not assigned"),
        ("Started", _day(plan.started_on)),
        ("Review", review),
        ("Area", f"{plan.area_ha:,.1f} ha"),
        ("Place", plan.place_name or "Not named"),
        ("Wards", wards),
        ("Partners", ", ".join(plan.partners) or "None recorded"),
    ]
    pdf.set_font(FONT, "", 9)
    label_style = FontFace(emphasis="BOLD", color=GREY)
    with pdf.table(
        col_widths=(25, 65, 25, 65),
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        text_align="LEFT",
        line_height=4.6,
        padding=(1.2, 1.5),
        v_align="TOP",
    ) as table:
        # two facts a row, except the long ones (place, wards, partners) across the page
        short, wide = facts[:6], facts[6:]
        for index in range(0, len(short), 2):
            row = table.row()
            for label, value in short[index : index + 2]:
                row.cell(label, style=label_style)
                row.cell(pdf.plain(value))
        for label, value in wide:
            row = table.row()
            row.cell(label, style=label_style)
            row.cell(pdf.plain(value), colspan=3)


def _evidence(pdf: MarkedPdf, evidence: PlanEvidenceSummary) -> None:
    pdf.heading("Evidence")
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(
        0,
        5,
        pdf.plain(
            f"Incidents in the plan area, {evidence.period_label}: {evidence.incidents_in_area:,}"
        ),
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    pdf.ln(1)
    if len(evidence.monthly):
        pdf.picture(
            monthly_incidents_png(evidence.monthly),
            pdf.epw,
            f"Bar chart of incidents per month in the plan area, {evidence.period_label}",
        )
    else:
        pdf.paragraph("No monthly counts for this period.", colour=GREY)
    if evidence.comparison_lines:
        pdf.bullets(evidence.comparison_lines)
    if evidence.assessment_lines:
        pdf.heading("Assessment (weighted displacement difference)", size=10.5, keep_mm=20)
        pdf.bullets(evidence.assessment_lines)

    pdf.heading("Assets nearby", size=10.5, keep_mm=20)
    assets = evidence.assets_nearby
    if assets is None or assets.empty:
        pdf.paragraph("No assets recorded near the area.", colour=GREY)
    else:
        require_columns(assets, ("name", "kind", "distance_m"), "evidence.assets_nearby")
        rows = [
            (str(name), _kind_label(kind), "" if is_missing(d) else f"{float(d):,.0f} m")
            for name, kind, d in assets[["name", "kind", "distance_m"]].itertuples(index=False)
        ]
        small_table(pdf, ("Name", "Kind", "Distance"), rows, (100, 50, 30))

    pdf.heading("Other plans overlapping this area", size=10.5, keep_mm=20)
    overlapping = evidence.overlapping
    if overlapping is None or overlapping.empty:
        pdf.paragraph("No other plan overlaps this area.", colour=GREY)
    else:
        require_columns(overlapping, ("title", "status", "overlap_pct"), "evidence.overlapping")
        rows = [
            (str(title), _plan_status_label(status), _percent(share))
            for title, status, share in overlapping[["title", "status", "overlap_pct"]].itertuples(
                index=False
            )
        ]
        small_table(pdf, ("Plan", "Status", "Overlap"), rows, (110, 40, 30))

    if evidence.area_map_png:
        pdf.heading("Plan area", keep_mm=80)
        pdf.picture(
            evidence.area_map_png, pdf.epw, "Map of the plan area with incident cells and assets"
        )


def _kind_label(kind: object) -> str:
    text = "" if is_missing(kind) else str(kind).replace("_", " ")
    return text[:1].upper() + text[1:]


def _percent(share: object) -> str:
    return "" if is_missing(share) else f"{float(share):.0f}%"  # type: ignore[arg-type]


def _flag_counts(flags: pd.Series) -> str:
    counts = flags.value_counts()
    parts = [f"{counts[flag]} {flag.lower()}" for flag in FLAG_ORDER if counts.get(flag, 0)]
    return ", ".join(parts)


def _actions(
    pdf: MarkedPdf, plan_actions: pd.DataFrame, histories: dict[int, pd.DataFrame]
) -> None:
    pdf.heading(f"Actions ({len(plan_actions)})", keep_mm=45)
    if plan_actions.empty:
        pdf.paragraph("No actions yet.", colour=GREY)
        return
    pdf.paragraph(_flag_counts(plan_actions["flag"]).capitalize() + ".", size=9.5)
    pdf.paragraph(
        "Overdue and at-risk actions are in bold, marked OVERDUE or AT RISK. Under each action: "
        f"its last {UPDATES_SHOWN} updates, newest first.",
        size=8,
        colour=GREY,
    )
    update_style = FontFace(size_pt=7.5, color=GREY)
    top = CellBordersLayout.TOP
    for theme, rows in plan_actions.groupby("vru_theme", sort=True):
        if pdf.will_page_break(50):  # the theme, the column names and a first action together
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(FONT, "", 8.5)
        with pdf.table(
            col_widths=(14, 70, 36, 20, 19, 21),
            borders_layout=TableBordersLayout.NONE,
            headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
            num_heading_rows=2,  # the theme is a heading row, so it repeats on each new page
            text_align="LEFT",
            line_height=4.2,
            padding=(1.2, 1.5, 0.4, 1.5),
            v_align="TOP",
        ) as table:
            table.row().cell(
                _theme(theme), colspan=6, style=FontFace(emphasis="BOLD", size_pt=10.5)
            )
            table.row(("No.", "Action", "Owner", "Due", "Status", "Flag"))
            for action in rows.itertuples(index=False):
                attention = _ATTENTION_LABELS.get(action.flag)
                fill = _OVERDUE_FILL if action.flag == FLAG_OVERDUE else _AT_RISK_FILL
                style = FontFace(emphasis="BOLD", fill_color=fill) if attention else None
                status = ACTION_STATUS_LABELS[ActionStatus(action.status)]
                owner = str(action.owner_agency)
                if not is_missing(action.owner_name):
                    owner += f"\n{action.owner_name}"
                description = truncate(str(action.description), DESCRIPTION_MAX)
                row = table.row(style=style)
                # the number spans the action and its updates: fpdf2 keeps a row span on one page
                row.cell(f"#{action.action_id}", rowspan=2, border=top)
                row.cell(pdf.plain(description), border=top)
                row.cell(pdf.plain(owner), border=top)
                row.cell(_day(action.due_on), border=top)
                row.cell(status, border=top)
                # the flag only where it adds to the status ("Done" twice says nothing)
                row.cell(attention or ("" if action.flag == status else action.flag), border=top)
                table.row(style=update_style).cell(
                    pdf.plain(_updates_text(histories.get(int(action.action_id)))),
                    colspan=5,
                    padding=(0.2, 1.5, 1.6, 1.5),
                    border=CellBordersLayout.NONE,
                )


def plan_summary_pdf(
    plan: PlanRecord,
    actions: pd.DataFrame,
    histories: dict[int, pd.DataFrame],
    evidence: PlanEvidenceSummary,
    *,
    today: date,
    marking: str = "OFFICIAL-SENSITIVE",
    synthetic: bool = False,
) -> bytes:
    """A plan's summary for a task-and-finish meeting, as an A4 PDF.

    Parameters
    ----------
    plan
        The plan (``dashboard.plans.PlanRecord``).
    actions
        ``dashboard.plans.actions()`` rows (``ACTION_COLUMNS``); rows of other plans are left
        out. Flags are worked out again for ``today``, so they match the date printed.
    histories
        Action id to its update trail (``HISTORY_COLUMNS``, newest first, as
        ``plans.action_history`` returns it); the last three of each are printed. An action
        missing from the mapping shows "No updates recorded."
    evidence
        Counts, sentences, tables and an optional map for the evidence section.
    today
        The date printed as "Generated" and used for the flags.
    marking
        The Government Security Classifications marking, printed at the top and bottom of
        every page.
    synthetic
        True for the demo data set: every page then says the data is synthetic.

    Returns
    -------
    bytes
        The PDF: the marking top and bottom, the plan's facts, problem (and outcome), the
        evidence, the area map when given, the actions by VRU theme with each one's last updates,
        and "Page n of N". All text is real text in DejaVu Sans (from matplotlib), so it can be
        searched and copied; typed text is never read as markup, and a character the font lacks
        prints as U+FFFD instead of failing.

    Raises
    ------
    ValueError
        The marking is blank, or a frame lacks a column used.
    """
    if not marking or not marking.strip():
        raise ValueError("marking is blank; give the document's classification, e.g. OFFICIAL")
    require_columns(actions, _PDF_ACTION_COLUMNS, "actions")
    require_columns(evidence.monthly, ("month", "incident_count"), "evidence.monthly")
    plan_actions = actions[actions["plan_id"] == plan.plan_id].copy()
    plan_actions["flag"] = [
        action_flag(status, pd.Timestamp(due_on).date(), today)
        for status, due_on in zip(plan_actions["status"], plan_actions["due_on"], strict=True)
    ]
    rank = plan_actions["flag"].map({flag: index for index, flag in enumerate(FLAG_ORDER)})
    plan_actions = (
        plan_actions.assign(_rank=rank)
        .sort_values(["vru_theme", "_rank", "due_on", "action_id"])
        .drop(columns="_rank")
    )

    pdf = MarkedPdf(marking.strip(), f"{today:%d %b %Y}", synthetic)
    pdf.set_title(pdf.plain(plan.title))
    pdf.set_subject(pdf.plain(f"{marking.strip()}: problem-solving plan summary"))
    pdf.set_creator("Community Safety Map")
    pdf.set_lang("en-GB")
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(0, 7.5, pdf.plain(plan.title), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.paragraph(
        f"Problem-solving plan {plan.plan_id}: summary for the task-and-finish meeting",
        size=9,
        colour=GREY,
    )
    pdf.ln(2)
    _plan_facts(pdf, plan)
    pdf.heading("Problem statement")
    pdf.paragraph(plan.problem)
    if plan.outcome:
        pdf.heading("Outcome")
        pdf.paragraph(plan.outcome)
    _evidence(pdf, evidence)
    _actions(pdf, plan_actions, histories)

    data = bytes(pdf.output())
    log.info(
        "plan %d summary PDF exported: %d pages, %d actions, sha256 %s",
        plan.plan_id,
        pdf.pages_count,
        len(plan_actions),
        hashlib.sha256(data).hexdigest(),
    )
    return data


def evidence_summary(
    evidence: PlanEvidence | None,
    plan: PlanRecord,
    bins_wgs84: gpd.GeoDataFrame | None,
    bus_stops_wgs84: gpd.GeoDataFrame | None,
    actions: pd.DataFrame,
    assessment: Assessment | None = None,
) -> PlanEvidenceSummary:
    """What the plan page shows as evidence, in the form ``plan_summary_pdf`` prints.

    ``evidence`` is None when no incidents are loaded (the PDF then says so); ``assessment`` is
    given at the Assessment stage. The area map shows only the assets within the evidence's
    distance, and the actions that have a place.
    """
    if evidence is None:
        return PlanEvidenceSummary(
            incidents_in_area=0,
            period_label="no incidents are loaded",
            monthly=pd.DataFrame({"month": [], "incident_count": []}),
        )
    near = set(evidence.assets["asset_id"])
    bins = bins_wgs84[bins_wgs84["asset_id"].isin(near)] if bins_wgs84 is not None else None
    stops = (
        bus_stops_wgs84[bus_stops_wgs84["asset_id"].isin(near)]
        if bus_stops_wgs84 is not None
        else None
    )
    weeks = evidence.weeks
    comparison = [
        f"12 weeks before the plan ({weeks.before_start:%d %b %Y} to "
        f"{weeks.before_end:%d %b %Y}): {weeks.before_count}."
    ]
    if weeks.latest_count is not None:
        change = f" ({weeks.change_pct:+.0f}%)" if weeks.change_pct is not None else ""
        comparison.append(
            f"Latest 12 weeks ({weeks.latest_start:%d %b %Y} to {weeks.latest_end:%d %b %Y}): "
            f"{weeks.latest_count}, a change of {weeks.change:+d}{change}."
        )
    comparison.append(weeks.note)
    if evidence.data_note:
        comparison.append(evidence.data_note)
    return PlanEvidenceSummary(
        incidents_in_area=evidence.incidents_in_area,
        period_label=f"{evidence.look_back_start:%b %Y} to {evidence.look_back_end:%b %Y}",
        monthly=evidence.monthly,
        comparison_lines=tuple(comparison),
        assets_nearby=evidence.assets[["name", "kind", "distance_m"]],
        overlapping=evidence.overlapping[["title", "status", "overlap_pct"]],
        area_map_png=plan_area_png(
            plan.area_wgs84,
            evidence.cells_bng,
            bins,
            stops,
            actions.dropna(subset=["longitude", "latitude"]),
        ),
        assessment_lines=tuple(describe_assessment(assessment, markdown=False))
        if assessment is not None
        else (),
    )
