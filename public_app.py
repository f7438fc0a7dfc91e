"""The public knife-bin page as a Streamlit app: no sign-in, and no way to reach the store.

It reads only the snapshot ``PUBLIC_DIR/bins.geojson`` that ``python -m dashboard export
public-map`` (or ``prepare``) wrote, and imports nothing from ``dashboard.store`` or
``dashboard.ui``: a test walks its imports to keep it so. Run it with ``make run-public``.
"""

import logging
from pathlib import Path

import streamlit as st

from dashboard import PROJECT_ROOT
from dashboard.config import load_settings
from dashboard.errors import CommunitySafetyError
from dashboard.public_map import public_map_html, read_public_snapshot

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("public_app")

FRAME_HEIGHT_PX = 1250  # the whole page on a desktop; on a phone the frame scrolls
NOT_PUBLISHED = (
    "The council has not published the locations of its knife amnesty bins here yet. "
    "Please try again later. In an emergency, call 999."
)


def knife_bins_page() -> None:
    """The one page: the published bins on a map and in a list, or why there are none."""
    try:
        settings = load_settings()
    except CommunitySafetyError as error:
        log.error("public page not shown: %s", error)
        st.error("This page is not available at the moment. In an emergency, call 999.")
        return
    public_dir = Path(settings.public_dir)
    try:
        snapshot = read_public_snapshot(public_dir)
    except FileNotFoundError:
        log.warning("no knife-bin snapshot in %s; run `python -m dashboard prepare`", public_dir)
        st.title(f"Knife amnesty bins in {settings.borough_name}")
        st.info(NOT_PUBLISHED)
        return
    except CommunitySafetyError as error:
        log.error("knife-bin snapshot unreadable: %s", error)
        st.error("This page is not available at the moment. In an emergency, call 999.")
        return
    try:
        page = public_map_html(
            snapshot.bins,
            asset_prefix=f"{settings.static_url_prefix}/vendor/leaflet/",
            tiles_url=settings.tiles_url,
            tiles_attribution=settings.tiles_attribution,
            borough_name=settings.borough_name,
            guidance_url=settings.public_guidance_url,
            updated_on=snapshot.updated_on,
        )
    except CommunitySafetyError as error:
        log.error("public page not shown: %s", error)
        st.error("This page is not available at the moment. In an emergency, call 999.")
        return
    # A fixed height: sizing the frame to its content would need Streamlit to add an inline
    # script to the page, which the page's Content-Security-Policy rightly refuses.
    st.iframe(page, height=FRAME_HEIGHT_PX, alt=f"Knife amnesty bins in {settings.borough_name}")


def _page_title() -> str:
    try:
        return f"Knife amnesty bins in {load_settings().borough_name}"
    except CommunitySafetyError:
        return "Knife amnesty bins"


st.set_page_config(
    page_title=_page_title(),
    page_icon=str(PROJECT_ROOT / "dashboard" / "assets" / "favicon.svg"),  # local: no CDN
    layout="wide",
    initial_sidebar_state="collapsed",
)
# One hidden page. Without st.navigation, Streamlit would offer every script in pages/ (the
# internal app) as a page of this one; with it, any other address opens this page instead.
st.navigation(
    [st.Page(knife_bins_page, title="Knife amnesty bins", url_path="knife-bins", default=True)],
    position="hidden",
).run()
