"""Files that leave the app. For now: the public knife-bin map the council website embeds.

The public map is built from an allow-list, never by dropping private columns: the store is
asked for the ``access.PUBLIC_ASSET_FIELDS`` columns of public knife bins and nothing else, so
a column added to ``Asset`` later (or an internal note) cannot reach the page by accident.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from datetime import date
from pathlib import Path

import xstatic.pkg.leaflet
from sqlalchemy import Engine, select

from dashboard.access import PUBLIC_ASSET_FIELDS
from dashboard.config import Settings
from dashboard.errors import DataError
from dashboard.public_map import (
    SNAPSHOT_FILE,
    PublishedBin,
    bins_geojson,
    public_map_html,
)
from dashboard.store.models import Asset, AssetKind
from dashboard.store.scope import in_boroughs
from dashboard.store.session import session_scope

__all__ = [
    "PUBLIC_MAP_ASSETS",
    "PublishedBin",
    "export_public_map",
    "public_map_html",
    "published_bins",
]

log = logging.getLogger(__name__)

PUBLIC_MAP_INDEX = "index.html"
PUBLIC_MAP_ASSET_DIR = "assets"
# Leaflet's own files beside the page (its CSS names the images, though the page draws none)
PUBLIC_MAP_ASSETS = ("leaflet.js", "leaflet.css", "images")
PUBLIC_MAP_FILES = frozenset({PUBLIC_MAP_INDEX, SNAPSHOT_FILE, PUBLIC_MAP_ASSET_DIR})


def published_bins(engine: Engine, borough_code: str | None = None) -> list[PublishedBin]:
    """A borough's knife amnesty bins marked public, as the public may see them; sorted by name.

    ``borough_code`` None is the store's only borough (refused when it holds several): a
    council's page shows its own bins. Only the allow-listed columns are selected, so nothing
    else is ever read for this page.
    """
    columns = [getattr(Asset, field) for field in PUBLIC_ASSET_FIELDS]
    boroughs = None if borough_code is None else (borough_code,)
    with session_scope(engine) as session:
        rows = session.execute(
            select(*columns)
            .where(
                Asset.kind == AssetKind.KNIFE_BIN,
                Asset.public.is_(True),
                in_boroughs(session, Asset.borough_code, boroughs),
            )
            .order_by(Asset.name, Asset.id)
        ).all()
    return [PublishedBin(**dict(zip(PUBLIC_ASSET_FIELDS, row, strict=True))) for row in rows]


def _copy_leaflet(asset_dir: Path) -> None:
    source_dir = Path(xstatic.pkg.leaflet.BASE_DIR)
    asset_dir.mkdir()
    for name in PUBLIC_MAP_ASSETS:
        source = source_dir / name
        if source.is_dir():
            shutil.copytree(source, asset_dir / name)
        else:
            shutil.copyfile(source, asset_dir / name)


def _readable_dir_mode() -> int:
    # mkdtemp makes a 0700 folder; the web server that hosts the export must be able to read it
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


def _replace_dir(new_dir: Path, out_dir: Path) -> None:
    """Put ``new_dir`` where ``out_dir`` is, keeping the old folder until the new one is in place.

    A folder cannot be swapped in one rename, so the old one is moved aside first and moved back
    if the second rename fails; a reader sees the old export or the new one, never a mixture.
    """
    if not out_dir.exists():
        new_dir.rename(out_dir)
        return
    old_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old-", dir=out_dir.parent))
    old_dir.rmdir()
    out_dir.rename(old_dir)
    try:
        new_dir.rename(out_dir)
    except BaseException:
        old_dir.rename(out_dir)
        raise
    shutil.rmtree(old_dir)


def _check_replaceable(out_dir: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier export."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise DataError(f"{out_dir} is a file; give a folder to export the public map into")
    others = sorted(path.name for path in out_dir.iterdir() if path.name not in PUBLIC_MAP_FILES)
    if others:
        raise DataError(
            f"{out_dir} holds files that are not a public map export ({', '.join(others[:5])}); "
            "the export replaces its folder whole, so give an empty or new folder"
        )


def export_public_map(engine: Engine, out_dir: Path, settings: Settings, today: date) -> Path:
    """Write the public knife-bin map into ``out_dir``, replacing what was there; return the page.

    ``out_dir`` ends up holding ``index.html`` (the page, Leaflet from ``assets/``),
    ``bins.geojson`` (the same bins, allow-listed properties only) and ``assets/`` (Leaflet's
    files from the installed XStatic package). Everything is built in a folder beside ``out_dir``
    and moved into place at the end, so a failed export leaves the previous one untouched.

    Raises
    ------
    DataError
        ``out_dir`` is a file, or a folder holding anything but an earlier export.
    ConfigurationError
        The guidance address or the tile address in ``settings`` cannot be used.
    """
    out_dir = Path(out_dir).resolve()
    _check_replaceable(out_dir)
    bins = published_bins(engine, settings.borough_code)
    page = public_map_html(
        bins,
        asset_prefix=f"{PUBLIC_MAP_ASSET_DIR}/",
        tiles_url=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
        borough_name=settings.borough_name,
        guidance_url=settings.public_guidance_url,
        updated_on=today,
    )
    page_bytes = page.encode("utf-8")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    build_dir = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        build_dir.chmod(_readable_dir_mode())
        (build_dir / PUBLIC_MAP_INDEX).write_bytes(page_bytes)
        (build_dir / SNAPSHOT_FILE).write_text(bins_geojson(bins, today), encoding="utf-8")
        _copy_leaflet(build_dir / PUBLIC_MAP_ASSET_DIR)
        _replace_dir(build_dir, out_dir)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    log.info(
        "public knife-bin map exported: %d bins, index.html sha256 %s, into %s",
        len(bins),
        hashlib.sha256(page_bytes).hexdigest(),
        out_dir,
    )
    return out_dir / PUBLIC_MAP_INDEX
