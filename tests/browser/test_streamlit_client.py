"""The load test's websocket client against the real app (``streamlit run`` on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest
from streamlit.proto.Element_pb2 import Element

from benchmarks.streamlit_client import (
    Screen,
    StreamlitSession,
    UnsupportedValue,
    WidgetNotFound,
    encode_widget_value,
)

T = TypeVar("T")

PARTNER = "Demo partner, Metropolitan Police (partner)"


def in_own_event_loop(visit: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the client's coroutine in a thread with its own loop: Playwright's sync API holds the
    main thread's loop in this test process."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(visit())).result()


def _incidents(screen: Screen) -> int:
    return int(screen.metric("Incidents shown").replace(",", ""))


def test_client_draws_the_map_narrows_it_by_a_checkbox_and_switches_user(app_url):
    async def visit() -> tuple[Screen, Screen, Screen, set[str]]:
        async with StreamlitSession(app_url, run_timeout_s=60) as session:
            first = await session.open("")
            knife_only = await session.change("Knife-enabled only", True)
            partner = await session.change("Demo user", PARTNER)
            titles = {page.title for page in session.pages.values()}
            return first, knife_only, partner, titles

    first, knife_only, partner, titles = in_own_event_loop(visit)

    assert first.page_title == "Map"
    assert first.finished_status == "FINISHED_SUCCESSFULLY"
    assert not first.exceptions
    assert not first.alert_bodies("error")
    assert 0 < _incidents(knife_only) < _incidents(first)
    assert knife_only.widget("Knife-enabled only").kind == "checkbox"
    # the partner's banner, and a navigation without the analyst's Data page
    assert any("you are Demo partner" in body for body in partner.alert_bodies("warning"))
    assert "Plans" in titles
    assert "Data" not in titles
    assert _incidents(partner) == _incidents(knife_only)  # the filter outlives the switch


def test_a_value_the_widget_does_not_offer_is_refused_before_anything_is_sent():
    element = Element()
    element.selectbox.id = "$$ID-0f-demo_user_email"
    element.selectbox.label = "Demo user"
    element.selectbox.options[:] = ["Demo analyst (analyst)", "Demo CSO (cso)"]
    screen = Screen(page_title="Map")
    screen.elements[(1, 0)] = element
    widget = screen.widget("Demo user")

    state = encode_widget_value(widget, "Demo CSO (cso)")

    assert widget.key == "demo_user_email"
    assert state.string_value == "Demo CSO (cso)"
    with pytest.raises(UnsupportedValue, match=re.escape("offers no 'demo-cso@example.org'")):
        encode_widget_value(widget, "demo-cso@example.org")
    with pytest.raises(WidgetNotFound, match="the labels shown are: Demo user"):
        screen.widget("Status")
