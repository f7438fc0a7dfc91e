"""Copy Leaflet and jQuery from installed packages into ``static/`` for Streamlit to serve.

The map must draw with no internet, so nothing is fetched from a CDN; the files come from the
XStatic packages that ``requirements.txt`` pins, and are copied, never edited.
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
VENDOR_FILES = {
    "leaflet": (Path(xstatic.pkg.leaflet.BASE_DIR), ["leaflet.js", "leaflet.css", "images"]),
    "jquery": (Path(xstatic.pkg.jquery.BASE_DIR), ["jquery.min.js"]),
}


def prepare_static(static_dir: Path = STATIC_DIR) -> list[Path]:
    """Copy the vendored map assets into ``static_dir/vendor``; return the files written."""
    written: list[Path] = []
    for package, (source_dir, names) in VENDOR_FILES.items():
        target_dir = static_dir / "vendor" / package
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            source, target = source_dir / name, target_dir / name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
                written += sorted(p for p in target.rglob("*") if p.is_file())
            else:
                shutil.copyfile(source, target)
                written.append(target)
    log.info("static map assets ready: %d files in %s", len(written), static_dir)
    return written
