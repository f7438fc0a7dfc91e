"""Patrol take-aways: GPX in visiting order, a formula-safe CSV, a marked PDF brief."""

from __future__ import annotations

import csv
import io
import struct
from datetime import UTC, date, datetime, time

import geopandas as gpd
import gpxpy
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from pypdf import PdfReader
from shapely.geometry import Point, box

from dashboard.errors import InvalidInput
from dashboard.geo import BNG
from dashboard.patrol import (
    Shift,
    actions_near_route,
    assets_in_window,
    plan_route,
)
from dashboard.patrol_exports import (
    CSV_COLUMNS,
    patrol_brief_pdf,
    route_csv,
    route_gpx,
    route_map_png,
)
from dashboard.plan_exports import AREA_MAP_SIZE_PX, monthly_incidents_png

X0, Y0 = 527_000.0, 173_000.0
BASE = Point(X0, Y0)
FRIDAY_EVENING = Shift((4,), time(18, 0), time(22, 0))
FRIDAY = date(2026, 7, 3)  # British Summer Time: 18:00 in London is 17:00 UTC
TODAY = date(2026, 7, 1)
SCRIPT_PAYLOAD = "<script>alert(1)</script>"


def street(named: dict[str, float], hotspot_class: str = "hot 99%") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"cell_id": list(named), "hotspot_class": hotspot_class, "incident_count": 14},
        geometry=[Point(X0 + east, Y0) for east in named.values()],
        crs=BNG,
    )


def friday_route(**changes) -> object:
    # the hand-solved street of test_patrol: visiting order B (-150 m), A (+100 m), C (+400 m),
    # arriving 2.4375, 18.5 and 35.375 minutes after setting off at 18:00
    stops = street({"A": 100, "B": -150, "C": 400})
    return plan_route(stops, BASE, shift=FRIDAY_EVENING, **changes)


# --- GPX -----------------------------------------------------------------------------------------


def test_gpx_lists_the_stops_in_visiting_order_with_names_places_and_times():
    route = friday_route()

    gpx = gpxpy.parse(route_gpx(route, "Friday patrol", on_date=FRIDAY).decode("utf-8"))

    assert [w.name for w in gpx.waypoints] == ["Start", "Stop 1", "Stop 2", "Stop 3"]
    stops = gpx.waypoints[1:]
    assert [w.latitude for w in stops] == pytest.approx(route.stops["latitude"].tolist(), abs=1e-6)
    assert [w.longitude for w in stops] == pytest.approx(
        route.stops["longitude"].tolist(), abs=1e-6
    )
    assert stops[0].description == (
        "hot 99%, 14 incidents. Arrive 18:02, leave 18:14: stay 12 min. Cell B."
    )
    assert stops[0].comment == "hot 99%, 14 incidents"
    # 17:00 UTC plus 2.4375, 18.5 and 35.375 minutes
    assert [w.time.astimezone(UTC).replace(microsecond=0) for w in stops] == [
        datetime(2026, 7, 3, 17, 2, 26, tzinfo=UTC),
        datetime(2026, 7, 3, 17, 18, 30, tzinfo=UTC),
        datetime(2026, 7, 3, 17, 35, 22, tzinfo=UTC),
    ]
    assert [p.name for p in gpx.routes[0].points] == ["Start", "Stop 1", "Stop 2", "Stop 3"]
    track = gpx.tracks[0].segments[0].points
    assert [(p.latitude, p.longitude) for p in track[1:]] == [
        (w.latitude, w.longitude) for w in stops
    ]
    assert gpx.name == "Friday patrol"
    assert "not measured along streets" in gpx.description
    assert gpx.description.startswith("OFFICIAL-SENSITIVE. Friday 18:00\u201322:00. 3 stops")


def test_gpx_is_version_1_1():
    data = route_gpx(friday_route(), "Friday patrol")

    assert b'version="1.1"' in data
    assert b'xmlns="http://www.topografix.com/GPX/1/1"' in data


def test_without_a_date_the_times_are_only_in_the_descriptions():
    gpx = gpxpy.parse(route_gpx(friday_route(), "Friday patrol").decode("utf-8"))

    assert all(w.time is None for w in gpx.waypoints)
    assert "Arrive 18:19, leave 18:31" in gpx.waypoints[2].description


def test_a_loop_ends_the_route_and_track_back_at_the_start():
    gpx = gpxpy.parse(route_gpx(friday_route(return_to_start=True), "Loop").decode("utf-8"))

    names = [p.name for p in gpx.routes[0].points]
    assert names == ["Start", "Stop 1", "Stop 2", "Stop 3", "Back to start"]
    track = gpx.tracks[0].segments[0].points
    assert (track[-1].latitude, track[-1].longitude) == (track[0].latitude, track[0].longitude)


def test_typed_text_is_escaped_in_the_gpx_and_reads_back_as_typed():
    data = route_gpx(friday_route(), f"Patrol {SCRIPT_PAYLOAD} & co\x07")

    assert b"<script>" not in data
    assert b"&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in data
    assert b"\x07" not in data  # a control character would make the XML unreadable
    assert gpxpy.parse(data.decode("utf-8")).name == f"Patrol {SCRIPT_PAYLOAD} & co"


def test_gpx_of_an_empty_route_or_for_another_day_is_refused():
    empty = plan_route(street({}), BASE)

    with pytest.raises(InvalidInput, match="no stops"):
        route_gpx(empty, "Nothing")
    with pytest.raises(InvalidInput, match="not a day of the shift"):
        route_gpx(friday_route(), "Wednesday", on_date=date(2026, 7, 1))


# --- CSV -----------------------------------------------------------------------------------------


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # the byte-order mark Excel needs for UTF-8
    assert b"\r\n" in data
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_readable_headers_and_one_row_per_stop_in_order():
    rows = read_csv(route_csv(friday_route()))

    assert tuple(rows[0]) == CSV_COLUMNS
    assert [row[0] for row in rows[1:]] == ["1", "2", "3"]
    assert [row[1] for row in rows[1:]] == ["B", "A", "C"]
    first = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert first["Arrive"] == "18:02"
    assert first["Leave"] == "18:14"
    assert first["Walk from previous (m, straight-line estimate)"] == "195"
    assert first["Easting"] == "526850"
    assert first["Why"] == "hot 99%, 14 incidents"


def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe():
    stops = street({'=HYPERLINK("http://x")': 100, "@SUM(A1)": 300}, hotspot_class="+cmd|calc")
    route = plan_route(stops, BASE)

    rows = read_csv(route_csv(route))

    assert [row[1] for row in rows[1:]] == ['\'=HYPERLINK("http://x")', "'@SUM(A1)"]
    assert rows[1][2] == "'+cmd|calc"
    assert rows[1][4].startswith("'+cmd|calc")
    assert rows[1][0] == "1"  # numbers stay numbers


def test_csv_of_an_empty_route_has_the_headers_only():
    rows = read_csv(route_csv(plan_route(street({}), BASE)))

    assert rows == [list(CSV_COLUMNS)]


# --- PDF -----------------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def near_things(route):
    bins = gpd.GeoDataFrame(
        {"asset_id": [1], "name": ["Library bin"], "address": ["Roehampton Lane"]},
        geometry=[Point(X0 + 400, Y0 + 150)],
        crs=BNG,
    ).to_crs("EPSG:4326")
    stops = gpd.GeoDataFrame(
        {"asset_id": [10], "name": ["Estate stop"], "address": ["Danebury Avenue"]},
        geometry=[Point(X0 - 150, Y0 + 100)],
        crs=BNG,
    ).to_crs("EPSG:4326")
    schedule = pd.DataFrame(
        {
            "stop_id": [10],
            "weekday": [4],
            "on_date": [None],
            "starts_at": [time(19)],
            "ends_at": [time(21)],
            "activity": ["Bleed-kit training"],
            "when": ["Friday 19:00-21:00"],
        }
    )
    longitude, latitude = (
        gpd.GeoSeries([Point(X0 + 100, Y0 + 50)], crs=BNG).to_crs("EPSG:4326").iloc[0].coords[0]
    )
    actions = pd.DataFrame(
        {
            "action_id": [42],
            "plan_title": ["Falcon estate"],
            "description": ["Survey the lighting on the footpath"],
            "owner_agency": ["Council"],
            "due_on": [date(2026, 6, 20)],
            "flag": ["Overdue"],
            "status": ["not_started"],
            "longitude": [longitude],
            "latitude": [latitude],
        }
    )
    return (
        assets_in_window(bins, stops, schedule, FRIDAY_EVENING, route),
        actions_near_route(actions, route),
    )


def test_the_brief_lists_stops_in_order_with_times_assets_actions_and_the_marking():
    route = friday_route()
    assets, actions = near_things(route)

    data = patrol_brief_pdf(
        route, "Zoë Ó Súilleabháin", FRIDAY_EVENING, assets, actions, today=TODAY, on_date=FRIDAY
    )

    text = pdf_text(data)
    assert text.count("OFFICIAL-SENSITIVE") >= 2  # top and bottom of the page
    assert "Patrol brief: Friday 18:00\u201322:00" in text
    assert "Zoë Ó Súilleabháin" in text
    assert "Friday 03 Jul 2026" in text
    rows = ("1 18:02 18:14 Cell B", "2 18:19 18:31 Cell A", "3 18:35 18:47 Cell C")
    positions = [text.index(row) for row in rows]  # stop, arrive, leave, cell: in visiting order
    assert positions == sorted(positions)
    assert "Library bin" in text
    assert "Estate stop" in text
    assert "Friday 19:00-21:00" in text
    assert "#42" in text
    assert "Survey the lighting" in text
    assert "not measured along streets" in " ".join(text.split())  # however the lines wrap
    assert "Page 1 of" in text


def test_typed_text_is_printed_as_typed_not_read_as_markup():
    route = friday_route()

    text = pdf_text(
        patrol_brief_pdf(route, "**Sam** <b>Lee</b>", FRIDAY_EVENING, None, None, today=TODAY)
    )

    assert "**Sam** <b>Lee</b>" in text
    assert "No knife bin" in text
    assert "No open action" in text


def test_the_planners_notes_are_printed_once_under_check_before_you_go():
    route = friday_route()
    note = "12 of 40 incidents are left out because the day and time filters cannot apply."

    text = " ".join(
        pdf_text(
            patrol_brief_pdf(
                route, "Sam Lee", FRIDAY_EVENING, None, None, today=TODAY, notes=(note, note)
            )
        ).split()
    )

    assert "Check before you go" in text
    assert text.count("12 of 40 incidents are left out") == 1


def test_the_brief_carries_the_map_when_given():
    route = friday_route()
    picture = monthly_incidents_png(pd.DataFrame({"month": [TODAY], "incident_count": [3]}))

    data = patrol_brief_pdf(
        route, "Sam Lee", FRIDAY_EVENING, None, None, today=TODAY, map_png=picture
    )

    images = [image for page in PdfReader(io.BytesIO(data)).pages for image in page.images]
    assert len(images) == 1


def test_a_blank_marking_or_an_empty_route_is_refused():
    with pytest.raises(ValueError, match="marking is blank"):
        patrol_brief_pdf(
            friday_route(), "Sam", FRIDAY_EVENING, None, None, today=TODAY, marking=" "
        )
    with pytest.raises(InvalidInput, match="no stops"):
        patrol_brief_pdf(
            plan_route(street({}), BASE), "Sam", FRIDAY_EVENING, None, None, today=TODAY
        )


# --- map -----------------------------------------------------------------------------------------

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STOP_VERMILLION = (0xD5, 0x5E, 0x00)
WALK_BLUE = (0x00, 0x72, 0xB2)
BUS_PURPLE = (0x6A, 0x3D, 0x9A)
ACTION_GREEN = (0x11, 0x77, 0x33)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def pixels_of(data: bytes, colour: tuple[int, int, int]) -> int:
    """How many pixels are (within anti-aliasing) this colour."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=int)
    return int((np.abs(rgb - np.array(colour)).max(axis=2) <= 6).sum())


def two_wards() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"], "name": ["Westfield", "Eastfield"]},
        geometry=[
            box(X0 - 2000, Y0 - 1000, X0, Y0 + 1000),
            box(X0, Y0 - 1000, X0 + 2000, Y0 + 1000),
        ],
        crs=BNG,
    ).to_crs("EPSG:4326")


def test_the_route_map_is_a_png_with_the_walk_stops_and_what_is_near():
    route = friday_route()
    assets, actions = near_things(route)

    png = route_map_png(route, two_wards(), assets, actions, synthetic=True)

    assert png_size(png) == AREA_MAP_SIZE_PX
    assert pixels_of(png, STOP_VERMILLION) > 1000  # three numbered circles
    assert pixels_of(png, WALK_BLUE) > 500
    assert pixels_of(png, BUS_PURPLE) > 20  # the Youth Bus stop, in the legend and on the map
    assert pixels_of(png, ACTION_GREEN) > 20
    assert png_size(route_map_png(route, two_wards(), size_px=(640, 480))) == (640, 480)


def test_the_route_map_leaves_out_what_it_is_not_given():
    png = route_map_png(friday_route(), None)

    assert png_size(png) == AREA_MAP_SIZE_PX
    assert pixels_of(png, STOP_VERMILLION) > 1000
    assert pixels_of(png, BUS_PURPLE) == 0
    assert pixels_of(png, ACTION_GREEN) == 0


def test_a_one_stop_route_still_gets_a_map():
    one = plan_route(street({"A": 0}), shift=FRIDAY_EVENING)

    assert png_size(route_map_png(one, two_wards())) == AREA_MAP_SIZE_PX


def test_a_route_map_without_stops_or_with_unusable_frames_is_refused():
    with pytest.raises(InvalidInput, match="The route has no stops; add a hotspot cell"):
        route_map_png(plan_route(street({}), BASE), two_wards())
    with pytest.raises(ValueError, match="name"):
        route_map_png(friday_route(), two_wards().drop(columns="name"))
    with pytest.raises(ValueError, match="no CRS"):
        route_map_png(friday_route(), two_wards().set_crs(None, allow_override=True))
