"""The Map page sends a map rendered once per set of inputs, exactly as st_folium would send it."""

from __future__ import annotations

import json
import re
from typing import Any

import folium
import numpy as np
import pytest
import streamlit_folium
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from dashboard import maps
from dashboard.geo import BNG
from dashboard.hotspots import borough_grid, count_class_breaks, count_on_grid
from dashboard.store.models import Plan, PlanStatus
from dashboard.store.session import make_engine, session_scope
from dashboard.ui.map_component import render_map, show_map
from tests.app.conftest import ANALYST, signed_in
from tests.unit.test_maps import small_borough, some_plans

RETURNED = ["last_active_drawing"]


def a_map() -> folium.Map:
    parts = small_borough()
    grid = borough_grid(parts["wards"].to_crs(BNG), cell_size_m=250)
    cells = count_on_grid(grid, np.array([525000.0]), np.array([175000.0]), cell_size_m=250)
    return maps.borough_map(
        **parts,
        cells_bng=cells,
        hotspot_breaks=count_class_breaks(cells["incident_count"]),
        cell_size_m=250,
        style=maps.MapStyle("/app/static"),
        synthetic=True,
        plans=some_plans(),
    )


def sent(monkeypatch: pytest.MonkeyPatch, show: Any) -> dict[str, Any]:
    """The arguments ``show()`` gives the map component (Folium's random ids made equal)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(
        streamlit_folium, "_component_func", lambda **arguments: calls.append(arguments)
    )
    show()
    (arguments,) = calls
    del arguments["on_change"]  # a function made per call
    return json.loads(re.sub(r"[0-9a-f]{32}", "ID", json.dumps(arguments)))


def test_the_component_gets_what_st_folium_would_send(monkeypatch: pytest.MonkeyPatch):
    theirs = sent(
        monkeypatch,
        lambda: streamlit_folium.st_folium(
            a_map(),
            key="borough_map",
            height=680,
            use_container_width=True,
            returned_objects=RETURNED,
        ),
    )
    ours = sent(
        monkeypatch,
        lambda: show_map(
            render_map(a_map()), key="borough_map", height=680, returned_objects=RETURNED
        ),
    )

    assert ours == theirs
    assert "Stairwell robberies" in ours["script"]  # the map itself, not an empty frame
    assert ours["default"] == {"last_active_drawing": None}


def map_script(at: AppTest) -> str:
    """The Leaflet script of the map the page sent."""
    scripts: list[str] = []

    def walk(node: object) -> None:
        proto = getattr(node, "proto", None)
        if "st_folium" in getattr(proto, "component_name", ""):
            scripts.append(json.loads(proto.json_args)["script"])
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    (script,) = scripts
    return script


@pytest.fixture
def maps_drawn(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the main maps drawn (one entry per ``borough_map`` call)."""
    drawn: list[int] = []
    draw = maps.borough_map

    def counted(**parts: Any) -> folium.Map:
        drawn.append(1)
        return draw(**parts)

    monkeypatch.setattr(maps, "borough_map", counted)
    return drawn


def test_a_rerun_with_the_same_map_sends_the_map_drawn_before(seeded_db: str, maps_drawn):
    at = signed_in(ANALYST)
    at.run()
    first = map_script(at)
    at.selectbox(key="ward_detail").select_index(0).run()  # the side panel changes, not the map

    assert not at.exception
    assert len(maps_drawn) == 1
    assert map_script(at) == first

    at.multiselect(key="categories").set_value(["robbery"]).run()  # a different map

    assert len(maps_drawn) == 2
    assert map_script(at) != first


def test_a_plan_renamed_by_someone_else_is_redrawn_at_the_next_rerun(seeded_db: str, maps_drawn):
    at = signed_in(ANALYST)
    at.run()
    engine = make_engine(seeded_db)
    with session_scope(engine) as session:
        plan_id = session.scalars(
            select(Plan.id).where(Plan.status == PlanStatus.OPEN).order_by(Plan.id)
        ).first()
        session.execute(
            update(Plan).where(Plan.id == plan_id).values(title="Renamed by a colleague")
        )
    engine.dispose()
    assert "Renamed by a colleague" not in map_script(at)

    at.run()

    assert len(maps_drawn) == 2
    assert "Renamed by a colleague" in map_script(at)
