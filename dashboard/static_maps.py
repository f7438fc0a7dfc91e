"""The canvas, view and finishing touches of the static maps printed in the PDFs.

The plan area map (``dashboard.plan_exports.plan_area_png``) and the patrol route map
(``dashboard.patrol_exports.route_map_png``) are drawn in EPSG:27700 with no tiles or network,
and end the same way (``finish_map``): north up, no ticks, a legend, a scale bar and a caption.
Pictures are drawn with matplotlib's Agg canvas on a ``Figure`` (not pyplot), so no GUI backend
or global figure state is involved and two sessions can draw at once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import geopandas as gpd
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from dashboard.geo import BNG

__all__ = [
    "AREA_MAP_SIZE_PX",
    "figure",
    "finish_map",
    "in_bng",
    "marker",
    "nice_length_m",
    "png",
    "view",
]

AREA_MAP_SIZE_PX = (1600, 1200)
"""A static map's default (width, height) in pixels: 8 x 6 in at 200 dpi."""
_DPI = 200


def figure(size_px: tuple[int, int]) -> Figure:
    """A blank figure of ``size_px`` (width, height) pixels on the Agg canvas, no GUI toolkit."""
    width_px, height_px = size_px
    if width_px <= 0 or height_px <= 0:
        raise ValueError(f"size_px must be two positive pixel counts, got {size_px}")
    drawing = Figure(figsize=(width_px / _DPI, height_px / _DPI), dpi=_DPI)
    FigureCanvasAgg(drawing)  # the Agg canvas: rendering without any GUI toolkit
    return drawing


def png(drawing: Figure) -> bytes:
    """The figure as PNG bytes of exactly its size, with no software name in the metadata."""
    buffer = io.BytesIO()
    # no bbox_inches="tight": the picture keeps exactly the size asked for
    drawing.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def in_bng(frame: gpd.GeoDataFrame | None, name: str) -> gpd.GeoDataFrame | None:
    """``frame`` in EPSG:27700, or None when it is None or empty; it must have a CRS."""
    if frame is None or len(frame) == 0:
        return None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise TypeError(f"{name} must be a GeoDataFrame or None, got {type(frame).__name__}")
    if frame.crs is None:
        raise ValueError(f"{name} has no CRS; set it (EPSG:4326 or EPSG:27700) before drawing")
    return frame.to_crs(BNG)


def view(bounds: np.ndarray, width_to_height: float) -> tuple[float, float, float, float]:
    """The area's bounds plus a margin, widened to the axes' shape: (west, south, east, north)."""
    west, south, east, north = (float(value) for value in bounds)
    pad_m = max(100.0, 0.25 * max(east - west, north - south))
    west, south, east, north = west - pad_m, south - pad_m, east + pad_m, north + pad_m
    centre_x, centre_y = (west + east) / 2, (south + north) / 2
    half_width, half_height = (east - west) / 2, (north - south) / 2
    if half_width / half_height < width_to_height:
        half_width = half_height * width_to_height
    else:
        half_height = half_width / width_to_height
    return (
        centre_x - half_width,
        centre_y - half_height,
        centre_x + half_width,
        centre_y + half_height,
    )


def nice_length_m(span_m: float) -> int:
    """The longest round scale-bar length no more than a quarter of ``span_m``."""
    lengths = (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000)
    fitting = [length for length in lengths if length <= span_m / 4]
    return fitting[-1] if fitting else lengths[0]


def marker(shape: str, colour: str, label: str) -> Line2D:
    """A legend entry for a point layer: one white-edged ``shape`` marker in ``colour``."""
    return Line2D(
        [],
        [],
        marker=shape,
        color=colour,
        markeredgecolor="white",
        linestyle="none",
        markersize=7,
        label=label,
    )


def finish_map(
    drawing: Figure,
    axes: Axes,
    bounds: tuple[float, float, float, float],
    handles: Sequence[Artist],
    caption: str,
    *,
    caption_y: float = 0.025,
    wrap: bool = False,
) -> None:
    """Finish a static map: its view, north up with no ticks, the legend, a scale bar, a caption.

    Parameters
    ----------
    drawing
        The figure the map is on (from ``figure``).
    axes
        The map's axes, in EPSG:27700 metres.
    bounds
        The view as (west, south, east, north), already the axes' shape (from ``view``).
    handles
        The legend's entries, top to bottom; the legend sits at the upper left.
    caption
        What follows "Scale bar: 500 m. " in the note under the map, e.g. the grid and what is
        drawn.
    caption_y
        The note's baseline, as a fraction of the figure's height from the bottom.
    wrap
        True to let matplotlib wrap the note onto a second line in a small picture.
    """
    axes.set_xlim(bounds[0], bounds[2])
    axes.set_ylim(bounds[1], bounds[3])
    axes.set_aspect("equal")  # a metre is as long east as north; the view already has that shape
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_xlabel("")  # geopandas labels the axes "Easting [metre]": noise without ticks
    axes.set_ylabel("")
    axes.legend(handles=handles, loc="upper left", fontsize=7.5, framealpha=0.9)
    scale_m = nice_length_m(bounds[2] - bounds[0])
    scale_label = f"{scale_m:,} m" if scale_m < 1000 else f"{scale_m / 1000:g} km"
    axes.add_artist(
        AnchoredSizeBar(
            axes.transData,
            scale_m,
            scale_label,
            loc="lower right",
            pad=0.6,
            frameon=True,
            size_vertical=(bounds[3] - bounds[1]) / 150,
            fontproperties={"size": 8},
        )
    )
    drawing.text(
        0.02,
        caption_y,
        f"Scale bar: {scale_label}. {caption}",
        fontsize=7.5,
        color="#444444",
        wrap=wrap,
    )
