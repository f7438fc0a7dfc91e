"""Copy Leaflet, jQuery and Leaflet.draw into ``static/`` for Streamlit to serve.

The map must draw with no internet, so nothing is fetched from a CDN. Leaflet and jQuery come
from the XStatic packages that ``requirements.txt`` pins; Leaflet.draw has no PyPI package, so it
comes from ``node_modules/`` (``package-lock.json``, installed by ``make``). Files are copied,
never edited. Leaflet.draw is optional: without it the app runs and offers no drawing tool.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import xstatic.pkg.jquery
import xstatic.pkg.leaflet

from dashboard import PROJECT_ROOT

log = logging.getLogger(__name__)

STATIC_DIR = PROJECT_ROOT / "static"
NODE_MODULES = PROJECT_ROOT / "node_modules"
VENDOR_FILES = {
    "leaflet": (Path(xstatic.pkg.leaflet.BASE_DIR), ["leaflet.js", "leaflet.css", "images"]),
    "jquery": (Path(xstatic.pkg.jquery.BASE_DIR), ["jquery.min.js"]),
}
# from npm, relative to node_modules; leaflet.draw.css finds its icons in images/ beside it
DRAW_PACKAGE = "leaflet-draw"
DRAW_SOURCE = Path("leaflet-draw") / "dist"
DRAW_FILES = ["leaflet.draw.js", "leaflet.draw.css", "images"]


def _copy(source_dir: Path, names: list[str], target_dir: Path) -> list[Path]:
    written: list[Path] = []
    target_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        source, target = source_dir / name, target_dir / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
            written += sorted(p for p in target.rglob("*") if p.is_file())
        else:
            shutil.copyfile(source, target)
            written.append(target)
    return written


def prepare_static(static_dir: Path = STATIC_DIR, node_modules: Path = NODE_MODULES) -> list[Path]:
    """Copy the vendored map assets into ``static_dir/vendor``; return the files written.

    Leaflet.draw is copied from ``node_modules`` when npm has installed it; when it has not, a
    warning is logged and the rest is still copied (``drawing_available`` then says False).
    """
    written: list[Path] = []
    for package, (source_dir, names) in VENDOR_FILES.items():
        written += _copy(source_dir, names, static_dir / "vendor" / package)
    draw_dir = node_modules / DRAW_SOURCE
    if all((draw_dir / name).exists() for name in DRAW_FILES):
        written += _copy(draw_dir, DRAW_FILES, static_dir / "vendor" / DRAW_PACKAGE)
    else:
        log.warning(
            "Leaflet.draw is not installed (%s is missing): drawing plan areas on the map is "
            "unavailable, the keyboard alternatives still work; run `npm ci` or `make run`",
            draw_dir,
        )
    log.info("static map assets ready: %d files in %s", len(written), static_dir)
    return written


def drawing_available(static_dir: Path = STATIC_DIR) -> bool:
    """Whether Leaflet.draw's script, stylesheet and icons are ready to serve in ``static_dir``."""
    draw_dir = static_dir / "vendor" / DRAW_PACKAGE
    return (
        (draw_dir / "leaflet.draw.js").is_file()
        and (draw_dir / "leaflet.draw.css").is_file()
        and (draw_dir / "images" / "spritesheet.png").is_file()
    )
