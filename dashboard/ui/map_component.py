"""Folium maps in a page, turned into the map component's arguments once per map, not per rerun.

``st_folium`` renders a Folium map into the component's arguments on every rerun. For All of
London that is about two seconds of template rendering and JSON encoding for a map that has
not changed since the last rerun (a click on a ward reruns the page). Here the arguments are
made once, with streamlit-folium's own functions, so the browser receives exactly what
``st_folium`` would send (``tests/app/test_map_component.py`` holds the two side by side), and a
page caches them under a key that names everything the map was drawn from.

streamlit-folium has no public way to send a map rendered earlier (its issue #194 asks for
one); the functions used here are its module-level helpers, pinned with it in requirements.txt.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

import folium
import streamlit as st
import streamlit_folium
from streamlit_folium import generate_js_hash, get_full_id

# what the map component reports before anyone touches the map (st_folium's defaults)
_NOTHING_YET: dict[str, Any] = {
    "last_clicked": None,
    "last_object_clicked": None,
    "last_object_clicked_count": None,
    "last_object_clicked_tooltip": None,
    "last_object_clicked_popup": None,
    "all_drawings": None,
    "last_active_drawing": None,
    "last_circle_radius": None,
    "last_circle_polygon": None,
    "selected_layers": None,
    "selected_tags": None,
    "last_geocoder_result": None,
}


@dataclass(frozen=True)
class RenderedMap:
    """A Folium map as the map component receives it: plain strings, cheap to cache."""

    script: str
    header: str
    html: str
    map_id: str
    css_links: tuple[str, ...]
    js_links: tuple[str, ...]
    bounds: dict[str, dict[str, float | None]]
    zoom: int | None


def render_map(fmap: folium.Map) -> RenderedMap:
    """Render ``fmap`` the way ``st_folium`` does (it changes the map: render it once)."""
    fmap.get_root().render()
    fmap.render()
    # the HTML and header first: making the script renames the map's elements
    html = streamlit_folium._get_html(fmap)
    header = streamlit_folium._get_header(fmap)
    script = streamlit_folium._get_map_string(fmap)
    (south, west), (north, east) = fmap.get_bounds()
    css_links: list[str] = []
    js_links: list[str] = []
    for element in _elements(fmap):
        css_links.extend(href for _, href in getattr(element, "default_css", []))
        js_links.extend(src for _, src in getattr(element, "default_js", []))
    return RenderedMap(
        script=script,
        header=header,
        html=html,
        map_id=get_full_id(fmap),
        css_links=tuple(dict.fromkeys(css_links)),
        js_links=tuple(dict.fromkeys(js_links)),
        bounds={
            "_southWest": {"lat": south, "lng": west},
            "_northEast": {"lat": north, "lng": east},
        },
        zoom=fmap.options.get("zoom"),
    )


def _elements(element: Any) -> Iterable[Any]:
    if isinstance(element, folium.elements.JSCSSMixin):
        yield element
    for child in getattr(element, "_children", {}).values():
        yield from _elements(child)


@st.cache_data(max_entries=32, show_spinner=False)
def _cached_render(cache_key: Hashable, _build: Callable[[], folium.Map]) -> RenderedMap:
    return render_map(_build())


def cached_map(cache_key: Hashable, build: Callable[[], folium.Map]) -> RenderedMap:
    """The rendered map of ``build()``, made once per ``cache_key``.

    ``cache_key`` must name everything the map is drawn from (data version, role, boroughs,
    filters, plans...): two calls with the same key get the first call's map.
    """
    return _cached_render(cache_key, build)


def show_map(
    rendered: RenderedMap, *, key: str, height: int, returned_objects: list[str]
) -> dict[str, Any]:
    """Put ``rendered`` in the page at the container's width; returns what ``st_folium`` would.

    As with ``st_folium``, only a change of one of ``returned_objects`` reruns the page.
    """
    component_key = generate_js_hash(rendered.script, key, False)

    def remember_under_key() -> None:
        st.session_state[key] = st.session_state.get(component_key, {})

    defaults = {"bounds": rendered.bounds, "zoom": rendered.zoom, **_NOTHING_YET}
    return streamlit_folium._component_func(
        script=rendered.script,
        header=rendered.header,
        html=rendered.html,
        id=rendered.map_id,
        key=component_key,
        height=height,
        width=None,  # the container's
        returned_objects=returned_objects,
        default={name: value for name, value in defaults.items() if name in returned_objects},
        zoom=None,
        center=None,
        feature_group=None,
        return_on_hover=False,
        layer_control=None,
        pixelated=False,
        css_links=list(rendered.css_links),
        js_links=list(rendered.js_links),
        on_change=remember_under_key,
        wrap_longitude=False,
    )
