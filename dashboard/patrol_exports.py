"""A planned patrol as files a CSO takes out: GPX for a phone, CSV, a map and a printable brief.

Each is a plain function of a ``dashboard.patrol.Route`` and the frames the page already holds
(``assets_in_window`` and ``actions_near_route``); nothing reads the store or Streamlit. The CSV
guard, the fonts and the marked A4 page come from ``dashboard.pdf``, and the static map's canvas,
view, scale bar and caption from ``dashboard.static_maps``, as for the plan summary, so a patrol
brief and a plan summary look and behave alike. Every file says that distances are straight
lines, not routes along streets.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import geopandas as gpd
import gpxpy.gpx
import numpy as np
import pandas as pd
from fpdf import FontFace
from fpdf.enums import TableBordersLayout, XPos, YPos
from matplotlib import patheffects
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from shapely.geometry import LineString, box

from dashboard import static_maps
from dashboard.dates import LONDON
from dashboard.errors import InvalidInput
from dashboard.frames import require_columns
from dashboard.geo import wgs84_to_bng
from dashboard.patrol import Route, Shift
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
from dashboard.static_maps import AREA_MAP_SIZE_PX

__all__ = ["CSV_COLUMNS", "patrol_brief_pdf", "route_csv", "route_gpx", "route_map_png"]

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "Stop",
    "Cell",
    "Hotspot",
    "Incidents",
    "Why",
    "Arrive",
    "Leave",
    "Minutes after setting off",
    "Stay (min)",
    "Walk from previous (m, straight-line estimate)",
    "Latitude",
    "Longitude",
    "Easting",
    "Northing",
)
_CSV_TEXT_COLUMNS = ("Cell", "Hotspot", "Why", "Arrive", "Leave")
_COORDINATE_DP = 6  # about 0.1 m: finer means nothing for a grid-cell centre
_ASSET_KIND_LABELS = {"knife_bin": "Knife bin", "youth_bus_stop": "Youth Bus"}
ACTION_TEXT_MAX = 160  # a brief's table cell, not the whole action: the app holds the full text

# The route map: Okabe-Ito blue and vermillion for the walk and its stops (Okabe & Ito 2008), and
# the main map's marks for the rest (``dashboard.maps``: bins black squares, Youth Bus stops purple
# circles, actions Tol-green diamonds). Shape and the stop numbers carry the meaning as well as
# hue, so the picture reads in greyscale and with the common colour-vision deficiencies.
_WALK_COLOUR = "#0072B2"
_STOP_COLOUR = "#D55E00"
_START_COLOUR = "#000000"
_MAP_BIN_COLOUR = "#1a1a1a"
_MAP_BUS_COLOUR = "#6a3d9a"
_MAP_ACTION_COLOUR = "#117733"
_WARD_EDGE = "#555555"
_WARD_LABEL = "#444444"
# The view is at least this wide and tall, so a one-stop walk still shows the streets' scale
_MIN_VIEW_M = 800.0


def _clock(value: object) -> str:
    return "" if is_missing(value) else f"{value:%H:%M}"


def _require_stops(route: Route, what: str) -> None:
    if route.stops.empty:
        raise InvalidInput(f"The route has no stops; add a hotspot cell before making the {what}")


def _distance_sentence(route: Route) -> str:
    return (
        f"{route.walk_distance_m / 1000:.1f} km, about {route.walk_time_min:.0f} min on foot "
        f"(straight lines \N{MULTIPLICATION SIGN} {route.detour_factor:g} at "
        f"{route.walking_speed_kmh:g} km/h, not measured along streets)"
    )


# --- GPX -----------------------------------------------------------------------------------------


def _xml_text(value: object) -> str:
    """Text XML 1.0 can hold: control characters (other than newline and tab) are dropped.

    gpxpy escapes ``<``, ``>`` and ``&`` itself but would write a control character as is,
    which makes the file unreadable to every GPX app.
    """
    if is_missing(value):
        return ""
    text = str(value)
    return "".join(
        char for char in text if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cs")
    )


def route_gpx(
    route: Route,
    name: str,
    shift: Shift | None = None,
    *,
    on_date: date | None = None,
    marking: str = "OFFICIAL-SENSITIVE",
) -> bytes:
    """The route as a GPX 1.1 file for a phone's map app.

    Parameters
    ----------
    route
        A route with at least one stop.
    name
        The file's, route's and track's name, e.g. "Patrol Friday 18:00-22:00".
    shift
        The shift, for the description and clock times; None uses ``route.shift``.
    on_date
        The date the shift starts. With it, waypoints and track points carry their planned
        times (UTC, as GPX requires; worked out from London time). Without it the times are
        only in each stop's description, because a GPX time needs a date.
    marking
        The classification, written into the file's description and keywords.

    Returns
    -------
    bytes
        UTF-8 GPX 1.1: a waypoint per stop in visiting order (name "Stop 1", ...; the reason,
        arrival and leaving times and cell in ``desc``; the reason in ``cmt``), a "Start"
        waypoint when the route has a start point, and a route and a single-segment track
        through the start, the stops in order and back when the route returns. All text is
        escaped by gpxpy.

    Raises
    ------
    InvalidInput
        The route has no stops, or ``on_date`` is not a day of the shift.
    """
    _require_stops(route, "GPX file")
    shift = shift if shift is not None else route.shift
    departure = None
    if on_date is not None:
        if shift is None:
            raise InvalidInput("on_date needs a shift: give the shift the patrol is for")
        local_start, _ = shift.occurrence(on_date)
        departure = local_start.replace(tzinfo=LONDON).astimezone(UTC)

    def at(minutes: float) -> datetime | None:
        return None if departure is None else departure + timedelta(minutes=float(minutes))

    gpx = gpxpy.gpx.GPX()
    gpx.creator = "Community Safety Map"
    gpx.name = _xml_text(name)
    label = f"{shift.label}. " if shift is not None else ""
    gpx.description = _xml_text(
        f"{marking}. {label}{len(route.stops)} stops; {_distance_sentence(route)}."
    )
    gpx.keywords = _xml_text(marking)

    path = [
        (round(lon, _COORDINATE_DP), round(lat, _COORDINATE_DP)) for lon, lat in route.path_lonlat()
    ]
    points: list[tuple[float, float, str, datetime | None]] = []
    if route.start_bng is not None:
        lon, lat = path[0]
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=lat, longitude=lon, time=at(0), name="Start", type="Start"
            )
        )
        points.append((lon, lat, "Start", at(0)))
    for stop in route.stops.itertuples(index=False):
        lon, lat = round(stop.longitude, _COORDINATE_DP), round(stop.latitude, _COORDINATE_DP)
        if is_missing(stop.arrive_at):
            times = f"Arrive {stop.arrive_min:.0f} min after setting off"
        else:
            times = f"Arrive {_clock(stop.arrive_at)}, leave {_clock(stop.leave_at)}"
        description = f"{stop.reason}. {times}: stay {stop.dwell_min:g} min. Cell {stop.cell_id}."
        gpx.waypoints.append(
            gpxpy.gpx.GPXWaypoint(
                latitude=lat,
                longitude=lon,
                time=at(stop.arrive_min),
                name=f"Stop {stop.order}",
                description=_xml_text(description),
                comment=_xml_text(stop.reason),
                type="Patrol stop",
            )
        )
        points.append((lon, lat, f"Stop {stop.order}", at(stop.arrive_min)))
    if route.return_to_start and len(path) > 1:
        lon, lat = path[-1]
        back = "Back to start" if route.start_bng is not None else "Back to stop 1"
        walk_back_min = route.return_walk_m / (route.walking_speed_kmh * 1000 / 60)
        points.append((lon, lat, back, at(route.stops["leave_min"].iloc[-1] + walk_back_min)))

    gpx_route = gpxpy.gpx.GPXRoute(name=_xml_text(name))
    segment = gpxpy.gpx.GPXTrackSegment()
    for lon, lat, point_name, when in points:
        gpx_route.points.append(
            gpxpy.gpx.GPXRoutePoint(latitude=lat, longitude=lon, time=when, name=point_name)
        )
        segment.points.append(
            gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon, time=when, name=point_name)
        )
    gpx.routes.append(gpx_route)
    track = gpxpy.gpx.GPXTrack(name=_xml_text(name))
    track.segments.append(segment)
    gpx.tracks.append(track)

    data = gpx.to_xml(version="1.1").encode("utf-8")
    log.info(
        "patrol GPX exported: %d stops, sha256 %s",
        len(route.stops),
        hashlib.sha256(data).hexdigest(),
    )
    return data


# --- CSV -----------------------------------------------------------------------------------------


def route_csv(route: Route) -> bytes:
    """The route's stops in visiting order as a CSV file a spreadsheet opens cleanly.

    Returns UTF-8 with a byte-order mark and CRLF line ends, the ``CSV_COLUMNS`` headers, one row
    per stop. Times are "22:05" (empty without a shift), coordinates WGS84 to 6 decimals and
    British National Grid to the metre. The walk is a straight-line estimate (straight line
    times the detour factor), as the header says. A text cell starting with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading apostrophe, so a spreadsheet shows
    it instead of running it (the same guard as ``plan_exports.actions_csv``). A route without
    stops gives the headers only.
    """
    stops = route.stops
    table = pd.DataFrame(
        {
            "Stop": stops["order"].astype("Int64"),
            "Cell": stops["cell_id"].astype(str),
            "Hotspot": stops["hotspot_class"].map(lambda v: "" if is_missing(v) else str(v)),
            "Incidents": stops["incident_count"].astype("Int64"),
            "Why": stops["reason"],
            "Arrive": stops["arrive_at"].map(_clock),
            "Leave": stops["leave_at"].map(_clock),
            "Minutes after setting off": stops["arrive_min"].round().astype("Int64"),
            "Stay (min)": stops["dwell_min"],
            "Walk from previous (m, straight-line estimate)": stops["walk_from_previous_m"]
            .round()
            .astype("Int64"),
            "Latitude": stops["latitude"].round(_COORDINATE_DP),
            "Longitude": stops["longitude"].round(_COORDINATE_DP),
            "Easting": stops["x_bng"].round().astype("Int64"),
            "Northing": stops["y_bng"].round().astype("Int64"),
        },
        columns=list(CSV_COLUMNS),
    )
    for column in _CSV_TEXT_COLUMNS:
        table[column] = table[column].map(formula_safe).astype(object)
    data = table.to_csv(index=False, lineterminator="\r\n", na_rep="").encode("utf-8-sig")
    log.info(
        "patrol CSV exported: %d stops, sha256 %s", len(table), hashlib.sha256(data).hexdigest()
    )
    return data


# --- map -----------------------------------------------------------------------------------------


def _placed(frame: pd.DataFrame | None, name: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows with a WGS84 ``longitude`` and ``latitude``, and their (x, y) in EPSG:27700."""
    if frame is None or frame.empty:
        return pd.DataFrame(), np.empty((0, 2))
    require_columns(frame, ("longitude", "latitude"), name)
    placed = frame.dropna(subset=["longitude", "latitude"])
    if placed.empty:
        return placed, np.empty((0, 2))
    x_bng, y_bng = wgs84_to_bng(
        placed["longitude"].to_numpy(float), placed["latitude"].to_numpy(float)
    )
    return placed, np.column_stack([x_bng, y_bng])


def _route_bounds(xy: np.ndarray) -> np.ndarray:
    """(west, south, east, north) of the points, widened about its centre to ``_MIN_VIEW_M``."""
    west, south = xy.min(axis=0)
    east, north = xy.max(axis=0)
    centre_x, centre_y = (west + east) / 2, (south + north) / 2
    half_width = max(east - west, _MIN_VIEW_M) / 2
    half_height = max(north - south, _MIN_VIEW_M) / 2
    return np.array(
        [
            centre_x - half_width,
            centre_y - half_height,
            centre_x + half_width,
            centre_y + half_height,
        ]
    )


def route_map_png(
    route: Route,
    wards_wgs84: gpd.GeoDataFrame | None,
    assets: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
    *,
    synthetic: bool = False,
    size_px: tuple[int, int] = AREA_MAP_SIZE_PX,
) -> bytes:
    """A static map of the patrol, as PNG bytes: drawn in EPSG:27700 with no tiles or network.

    Parameters
    ----------
    route
        The planned route (at least one stop): its walk as straight legs, and each stop as a
        circle numbered in visiting order; the start point when it has one.
    wards_wgs84
        The borough's wards (``code``, ``name``, polygons; EPSG:4326 or any set CRS): those in
        view are outlined and named. None or empty leaves them out.
    assets
        ``dashboard.patrol.assets_in_window`` output (``ASSET_COLUMNS``: ``kind`` "knife_bin" or
        "youth_bus_stop", ``longitude``, ``latitude``), or None.
    actions
        ``dashboard.patrol.actions_near_route`` output (``NEAR_ACTION_COLUMNS``): each open
        action's place, labelled with its number; or None.
    synthetic
        True for the demo data set: the picture then says the data is synthetic.
    size_px
        The picture's (width, height) in pixels.

    Returns
    -------
    bytes
        A PNG of exactly ``size_px``. The view is the stops, the start and the points drawn,
        plus a margin (at least 800 m across), north up, with a legend, a scale bar and a note
        saying the legs are straight lines, not the streets walked.

    Raises
    ------
    InvalidInput
        The route has no stops.
    ValueError
        A frame has no CRS or lacks a column used, or ``size_px`` is not positive.
    """
    _require_stops(route, "map")
    wards = static_maps.in_bng(wards_wgs84, "wards_wgs84")
    if wards is not None:
        require_columns(wards, ("name",), "wards_wgs84")
    bins_xy = bus_xy = np.empty((0, 2))
    if assets is not None and len(assets):
        require_columns(assets, ("kind",), "assets")
        bins_xy = _placed(assets[assets["kind"] == "knife_bin"], "assets")[1]
        bus_xy = _placed(assets[assets["kind"] == "youth_bus_stop"], "assets")[1]
    placed_actions, action_xy = _placed(actions, "actions")
    action_labels = (
        [f"#{action_id}" for action_id in placed_actions["action_id"]]
        if "action_id" in placed_actions.columns
        else [""] * len(action_xy)
    )
    stops_xy = route.stops[["x_bng", "y_bng"]].to_numpy(float)
    start_xy = (
        np.array([[route.start_bng.x, route.start_bng.y]])
        if route.start_bng is not None
        else np.empty((0, 2))
    )

    figure = static_maps.figure(size_px)
    axes_rect = (0.02, 0.08, 0.96, 0.865)
    axes = figure.add_axes(axes_rect)
    everything = np.vstack([stops_xy, start_xy, bins_xy, bus_xy, action_xy])
    view = static_maps.view(
        _route_bounds(everything), axes_rect[2] * size_px[0] / (axes_rect[3] * size_px[1])
    )
    view_box = box(*view)
    halo = [patheffects.withStroke(linewidth=2.5, foreground="white")]
    handles: list[Line2D | Patch] = []

    if wards is not None:
        in_view = wards[wards.intersects(view_box)]
        if len(in_view):
            in_view.boundary.plot(ax=axes, color=_WARD_EDGE, linewidth=1.0, zorder=1)
            for name, geometry in zip(in_view["name"], in_view.geometry, strict=True):
                place = geometry.intersection(view_box).representative_point()
                axes.text(
                    place.x,
                    place.y,
                    str(name),
                    ha="center",
                    va="center",
                    fontsize=8,
                    fontstyle="italic",
                    color=_WARD_LABEL,
                    path_effects=halo,
                    clip_on=True,
                    zorder=2,
                )
            handles.append(
                Patch(facecolor="none", edgecolor=_WARD_EDGE, linewidth=1, label="Ward boundary")
            )

    path = route.path_bng()
    if isinstance(path, LineString):
        x_path, y_path = path.xy
        axes.plot(x_path, y_path, color=_WALK_COLOUR, linewidth=2.4, zorder=3)
        handles.append(
            Line2D([], [], color=_WALK_COLOUR, linewidth=2.4, label="Walk (straight legs)")
        )
    points = (
        (bins_xy, "s", 45, _MAP_BIN_COLOUR, "Knife amnesty bin"),
        (bus_xy, "o", 45, _MAP_BUS_COLOUR, "Youth Bus stop (in the shift)"),
        (action_xy, "D", 40, _MAP_ACTION_COLOUR, "Open action (with its number)"),
    )
    for xy, shape, size, colour, label in points:
        if len(xy):
            axes.scatter(
                xy[:, 0],
                xy[:, 1],
                marker=shape,
                s=size,
                color=colour,
                edgecolor="white",
                linewidth=0.8,
                zorder=9,
            )
            handles.append(static_maps.marker(shape, colour, label))
    for (x, y), label in zip(action_xy, action_labels, strict=True):
        axes.annotate(
            label,
            (x, y),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=7.5,
            color=_MAP_ACTION_COLOUR,
            path_effects=halo,
            zorder=10,
        )
    if len(start_xy):
        axes.scatter(
            start_xy[:, 0],
            start_xy[:, 1],
            marker="*",
            s=220,
            color=_START_COLOUR,
            edgecolor="white",
            linewidth=0.8,
            zorder=6,
        )
        handles.append(static_maps.marker("*", _START_COLOUR, "Start"))
    axes.scatter(
        stops_xy[:, 0],
        stops_xy[:, 1],
        marker="o",
        s=330,
        color=_STOP_COLOUR,
        edgecolor="white",
        linewidth=1.5,
        zorder=7,
    )
    for (x, y), order in zip(stops_xy, route.stops["order"], strict=True):
        axes.text(
            x,
            y,
            str(order),
            ha="center",
            va="center",
            fontsize=9,
            fontweight="bold",
            color="white",
            zorder=11,  # above a bin or action drawn on the stop, so the number always shows
        )
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            color=_STOP_COLOUR,
            markeredgecolor="white",
            linestyle="none",
            markersize=11,
            label="Stop, numbered in visiting order",
        )
    )

    static_maps.finish_map(
        figure,
        axes,
        view,
        handles,
        "British National Grid (EPSG:27700), north up. Legs are "
        "straight lines between stops, not the streets walked.",
        caption_y=0.015,
        wrap=True,  # onto a second line in a small picture, rather than off its edge
    )
    if synthetic:
        figure.text(
            0.5,
            0.99,
            "Synthetic demo data: no real people, places or incidents",
            ha="center",
            va="top",
            fontsize=8,
            color="#444444",
        )
    return static_maps.png(figure)


# --- PDF -----------------------------------------------------------------------------------------


def _nearby_text(order: int, assets: pd.DataFrame | None, actions: pd.DataFrame | None) -> str:
    lines = []
    if assets is not None and len(assets):
        for asset in assets[assets["nearest_stop"] == order].itertuples(index=False):
            kind = _ASSET_KIND_LABELS.get(str(asset.kind), str(asset.kind))
            line = f"{kind}: {asset.name} ({asset.distance_m:,.0f} m)"
            for extra in (asset.when, asset.activity):
                if not is_missing(extra) and str(extra):
                    line += f", {extra}"
            lines.append(line)
    if actions is not None and len(actions):
        for action in actions[actions["nearest_stop"] == order].itertuples(index=False):
            lines.append(
                f"Action #{action.action_id} ({action.flag}): "
                f"{truncate(str(action.description), 80)}"
            )
    return "\n".join(lines)


def _facts(pdf: MarkedPdf, route: Route, shift: Shift) -> None:
    rounds = (
        f"{route.visits_in_shift}, one about every {route.revisit_every_min:g} min"
        if route.visits_in_shift is not None
        else "No shift given"
    )
    facts = (
        ("Stops", f"{len(route.stops)}, {route.dwell_min:g} min at each"),
        ("Walking", _distance_sentence(route)),
        ("One round", f"about {route.total_time_min:.0f} min (walking and stops)"),
        ("Rounds in shift", f"{rounds} ({shift.duration_min:.0f}-minute shift)"),
        (
            "Start",
            "Your start point" if route.start_bng is not None else "The top-ranked hotspot",
        ),
        ("End", "Back at the start" if route.return_to_start else "At the last stop"),
    )
    pdf.set_font(FONT, "", 9)
    label_style = FontFace(emphasis="BOLD", color=GREY)
    with pdf.table(
        col_widths=(32, 148),
        first_row_as_headings=False,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        text_align="LEFT",
        line_height=4.6,
        padding=(1.2, 1.5),
        v_align="TOP",
    ) as table:
        for label, value in facts:
            row = table.row()
            row.cell(label, style=label_style)
            row.cell(pdf.plain(value))


def _stops_table(
    pdf: MarkedPdf, route: Route, assets: pd.DataFrame | None, actions: pd.DataFrame | None
) -> None:
    pdf.set_font(FONT, "", 8.5)
    with pdf.table(
        col_widths=(11, 14, 14, 33, 30, 15, 63),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL),
        text_align="LEFT",
        line_height=4.2,
        padding=(1.2, 1.5),
        v_align="TOP",
    ) as table:
        table.row(("Stop", "Arrive", "Leave", "Where", "Why here", "Walk", "Look out for nearby"))
        for stop in route.stops.itertuples(index=False):
            arrive = _clock(stop.arrive_at) or f"+{stop.arrive_min:.0f} min"
            leave = _clock(stop.leave_at) or f"+{stop.leave_min:.0f} min"
            table.row(
                (
                    str(stop.order),
                    arrive,
                    leave,
                    pdf.plain(f"Cell {stop.cell_id}\n{stop.latitude:.5f}, {stop.longitude:.5f}"),
                    pdf.plain(stop.reason),
                    f"{stop.walk_from_previous_m:,.0f} m",
                    pdf.plain(_nearby_text(stop.order, assets, actions)),
                )
            )


def patrol_brief_pdf(
    route: Route,
    cso_name: str,
    shift: Shift,
    assets: pd.DataFrame | None,
    actions: pd.DataFrame | None,
    *,
    today: date,
    marking: str = "OFFICIAL-SENSITIVE",
    map_png: bytes | None = None,
    on_date: date | None = None,
    synthetic: bool = False,
    notes: Sequence[str] = (),
) -> bytes:
    """A printable patrol brief, as an A4 PDF.

    Parameters
    ----------
    route
        The planned route (at least one stop).
    cso_name
        Who the brief is for, printed under the title.
    shift
        The shift the patrol is for.
    assets
        ``dashboard.patrol.assets_in_window`` output (``ASSET_COLUMNS``), or None.
    actions
        ``dashboard.patrol.actions_near_route`` output (``NEAR_ACTION_COLUMNS``), or None.
    today
        The date printed as "Generated".
    marking
        The Government Security Classifications marking, top and bottom of every page.
    map_png
        A picture of the route (PNG bytes), printed after the summary; None leaves it out.
    on_date
        The date the shift starts, printed when given.
    synthetic
        True for the demo data set: every page then says the data is synthetic.
    notes
        What the planner said about the plan as a whole (``PatrolPlan.warnings`` beyond the
        route's, incidents left out for having no time), printed with the route's warnings.

    Returns
    -------
    bytes
        The PDF: the marking top and bottom, the CSO and shift, the walk's figures and any
        warnings, the map when given, the stops in order with times, why each is there and
        what is near it, the nearby knife bins and Youth Bus stops, the open actions near the
        route, how the plan was worked out (distances are straight lines, not streets) and
        "Page n of N". All text is real text in DejaVu Sans (shared with
        ``plan_exports``); typed text is never read as markup.

    Raises
    ------
    ValueError
        The marking is blank, or ``assets``/``actions`` lack a column used.
    InvalidInput
        The route has no stops, or ``on_date`` is not a day of the shift.
    """
    if not marking or not marking.strip():
        raise ValueError("marking is blank; give the document's classification, e.g. OFFICIAL")
    _require_stops(route, "brief")
    if assets is not None and len(assets):
        require_columns(
            assets,
            ("kind", "name", "address", "when", "activity", "distance_m", "nearest_stop"),
            "assets",
        )
    if actions is not None and len(actions):
        require_columns(
            actions,
            (
                "action_id",
                "plan_title",
                "description",
                "owner_agency",
                "due_on",
                "flag",
                "nearest_stop",
            ),
            "actions",
        )
    if on_date is not None:
        shift.occurrence(on_date)  # raises when the shift does not run that day

    pdf = MarkedPdf(marking.strip(), f"{today:%d %b %Y}", synthetic)
    pdf.set_title(pdf.plain(f"Patrol brief: {shift.label}"))
    pdf.set_subject(pdf.plain(f"{marking.strip()}: patrol brief"))
    pdf.set_creator("Community Safety Map")
    pdf.set_lang("en-GB")
    pdf.add_page()
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(
        0, 7.5, pdf.plain(f"Patrol brief: {shift.label}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    subtitle = f"For {cso_name}" if cso_name and cso_name.strip() else "For the patrolling officer"
    if on_date is not None:
        subtitle += f", shift starting {on_date:%A %d %b %Y}"
    pdf.paragraph(subtitle, size=10, colour=GREY)
    pdf.ln(2)
    _facts(pdf, route, shift)
    checks = list(dict.fromkeys([*notes, *route.warnings]))  # in order, each once
    if checks:
        pdf.heading("Check before you go", size=10.5, keep_mm=20)
        pdf.bullets(checks)

    if map_png:
        pdf.heading("Route", keep_mm=80)
        pdf.picture(map_png, pdf.epw, "Map of the patrol route with its numbered stops")

    pdf.heading(f"Stops in order ({len(route.stops)})", keep_mm=40)
    pdf.paragraph(
        f"Stay the full {route.dwell_min:g} minutes at each stop and be seen: the deterrent "
        "effect builds over a visit of 10-15 minutes and outlasts it (Koper 1995). Note what "
        "you find for the next tasking.",
        size=9,
    )
    pdf.ln(1)
    _stops_table(pdf, route, assets, actions)

    pdf.heading("Knife bins and Youth Bus stops near the route", size=10.5, keep_mm=25)
    if assets is None or assets.empty:
        pdf.paragraph(
            "No knife bin, and no Youth Bus stop scheduled in this shift, near the route.",
            colour=GREY,
        )
    else:
        rows = [
            (
                f"Stop {asset.nearest_stop}",
                _ASSET_KIND_LABELS.get(str(asset.kind), str(asset.kind)),
                str(asset.name),
                "" if is_missing(asset.address) else str(asset.address),
                "" if is_missing(asset.when) else str(asset.when),
                f"{asset.distance_m:,.0f} m",
            )
            for asset in assets.itertuples(index=False)
        ]
        small_table(
            pdf,
            ("Near", "Kind", "Name", "Address", "When", "Distance"),
            rows,
            (16, 22, 40, 50, 34, 18),
        )

    pdf.heading("Open plan actions near the route", size=10.5, keep_mm=25)
    if actions is None or actions.empty:
        pdf.paragraph("No open action with a place near the route.", colour=GREY)
    else:
        rows = [
            (
                f"Stop {action.nearest_stop}",
                f"#{action.action_id}",
                truncate(str(action.description), ACTION_TEXT_MAX),
                str(action.plan_title),
                str(action.owner_agency),
                "" if is_missing(action.due_on) else f"{pd.Timestamp(action.due_on):%d %b %Y}",
                str(action.flag),
            )
            for action in actions.itertuples(index=False)
        ]
        small_table(
            pdf,
            ("Near", "No.", "Action", "Plan", "Owner", "Due", "Flag"),
            rows,
            (14, 12, 58, 34, 24, 20, 18),
        )

    pdf.heading("How this plan was worked out", size=10.5, keep_mm=25)
    pdf.paragraph(route.assumptions, size=8.5, colour=GREY)

    data = bytes(pdf.output())
    log.info(
        "patrol brief PDF exported: %d pages, %d stops, sha256 %s",
        pdf.pages_count,
        len(route.stops),
        hashlib.sha256(data).hexdigest(),
    )
    return data
