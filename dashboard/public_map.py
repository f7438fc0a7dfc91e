"""The public knife-bin page: what may be published, how it is drawn, and its snapshot file.

This module never touches the store. The public app (``public_app.py``) imports it and
``dashboard.config`` only, so a page anyone can open has no way to reach internal data: it reads
the snapshot ``bins.geojson`` that ``dashboard.exports.export_public_map`` wrote from the store.

Every field that leaves the organisation is named in ``access.PUBLIC_ASSET_FIELDS``; a bin here
is exactly those fields and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from dataclasses import astuple, dataclass, fields
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from dashboard.access import PUBLIC_ASSET_FIELDS
from dashboard.errors import ConfigurationError, DataError

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
PAGE_TEMPLATE = "public_map.html.j2"
PAGE_SCRIPT = "public_map.js"
PAGE_STYLE = "public_map.css"
SNAPSHOT_FILE = "bins.geojson"  # the published snapshot: the page's only data source

# What the page calls for; Crimestoppers takes reports anonymously
EMERGENCY_NUMBERS = (
    ("999", "999", "In an emergency, or if someone is in danger now"),
    ("101", "101", "To tell the police about something that is not an emergency"),
    ("0800555111", "0800 555 111", "To tell Crimestoppers about a crime anonymously"),
)

# A JSON text placed inside <script> must not be able to close the element or open a comment:
# these characters are written as JSON escapes, which JSON.parse reads back unchanged.
_SCRIPT_SAFE = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)


@dataclass(frozen=True)
class PublishedBin:
    """A knife amnesty bin as the public may see it: the allow-listed fields, nothing more.

    The fields are ``access.PUBLIC_ASSET_FIELDS``, in that order (a unit test checks it).
    Coordinates are WGS84 (EPSG:4326) degrees.
    """

    name: str
    address: str
    longitude: float
    latitude: float
    guidance: str | None  # what to do at this bin, in the council's words


@dataclass(frozen=True)
class PublicSnapshot:
    """The published bins and the day they were exported."""

    bins: list[PublishedBin]
    updated_on: date


def script_safe_json(value: object) -> Markup:
    r"""JSON text of ``value`` that is safe inside an HTML ``<script>`` element.

    ``<``, ``>`` and ``&`` (and the two JavaScript line separators) are written as ``\uXXXX``
    escapes, so a name such as ``</script>`` can neither end the element nor be read as markup.
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Markup(text.translate(_SCRIPT_SAFE))  # escaped above, so marking it safe is true


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _source_of(url: str) -> str:
    """CSP source expression for the host ``url`` is on; a relative URL is the page's own."""
    parts = urlsplit(url)
    if not parts.scheme:
        return "'self'"
    # an XYZ template may spread its tiles over subdomains: "{s}.tile.example.org"
    host = ".".join("*" if "{" in label else label for label in parts.netloc.split("."))
    return f"{parts.scheme}://{host}"


def _check_url(value: str, setting: str, schemes: tuple[str, ...]) -> None:
    if urlsplit(value).scheme not in schemes:
        raise ConfigurationError(
            f"{setting} must be an address starting {' or '.join(s + '://' for s in schemes)}, "
            f"got {value!r}"
        )


def long_date(day: date) -> str:
    """A date as GOV.UK writes it: "7 November 2026"."""
    return f"{day.day} {day:%B %Y}"


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,  # every value a person typed is escaped where it becomes HTML
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def public_map_html(
    bins: list[PublishedBin],
    *,
    asset_prefix: str,
    tiles_url: str | None,
    tiles_attribution: str,
    borough_name: str,
    guidance_url: str,
    updated_on: date,
) -> str:
    """The public knife-bin page: a map, an accessible list, emergency numbers and guidance.

    Parameters
    ----------
    bins
        The bins to show, in list order (``published_bins`` sorts them by name).
    asset_prefix
        Where ``leaflet.js`` and ``leaflet.css`` are: ``"assets/"`` beside an exported page, or
        the app's static folder (``"/app/static/vendor/leaflet/"``).
    tiles_url
        XYZ template of the base map, or None for a plain background and no third-party request.
    tiles_attribution
        Attribution of the tiles (configuration, written as HTML by Leaflet); unused without tiles.
    borough_name
        Shown in the title and headings.
    guidance_url
        The council's (or the Home Office's) guidance on handing in a knife; https only.
    updated_on
        The day the bins were exported ("Last updated ...").

    Returns
    -------
    str
        One HTML document. The page's own script and style are inline and pinned by hash in its
        Content-Security-Policy, which allows scripts and styles only from ``asset_prefix``'s host
        and images only from the tile host, so even text that escaped escaping could not run.

    Raises
    ------
    ConfigurationError
        ``guidance_url`` is not https, or ``tiles_url`` is not http(s).
    """
    _check_url(guidance_url, "PUBLIC_GUIDANCE_URL", ("https",))
    if tiles_url is not None:
        _check_url(tiles_url, "MAP_TILES", ("https", "http"))
    environment = _environment()
    script = (TEMPLATES_DIR / PAGE_SCRIPT).read_text(encoding="utf-8")
    style = (TEMPLATES_DIR / PAGE_STYLE).read_text(encoding="utf-8")
    assets = _source_of(asset_prefix)
    tiles = _source_of(tiles_url) if tiles_url else "'none'"
    policy = "; ".join(
        [
            "default-src 'none'",
            f"script-src {assets} {_csp_hash(script)}",
            f"style-src {assets} {_csp_hash(style)}",
            f"img-src {tiles}",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )
    config = {
        "tilesUrl": tiles_url,
        "tilesAttribution": tiles_attribution if tiles_url else "",
        "guidanceUrl": guidance_url,
    }
    return environment.get_template(PAGE_TEMPLATE).render(
        bins=bins,
        bins_json=script_safe_json([_as_record(bin_) for bin_ in bins]),
        config_json=script_safe_json(config),
        asset_prefix=asset_prefix,
        borough_name=borough_name,
        guidance_url=guidance_url,
        updated_on=updated_on,
        updated_on_text=long_date(updated_on),
        emergency_numbers=EMERGENCY_NUMBERS,
        content_security_policy=policy,
        page_script=Markup(script),  # our own file, pinned by its hash in the policy above
        page_style=Markup(style),
    )


def _as_record(bin_: PublishedBin) -> dict[str, object]:
    return dict(zip(PUBLIC_ASSET_FIELDS, astuple(bin_), strict=True))


def bins_geojson(bins: list[PublishedBin], updated_on: date) -> str:
    """The snapshot: a GeoJSON FeatureCollection (RFC 7946, WGS84) of the published bins.

    Each feature's properties are exactly the allow-listed fields; ``updated_on`` (ISO date) is a
    foreign member of the collection, so the public app can say when the bins were published.
    """
    collection = {
        "type": "FeatureCollection",
        "updated_on": updated_on.isoformat(),
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [bin_.longitude, bin_.latitude]},
                "properties": _as_record(bin_),
            }
            for bin_ in bins
        ],
    }
    return json.dumps(collection, ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def read_public_snapshot(directory: Path) -> PublicSnapshot:
    """Read ``directory/bins.geojson`` as written by ``bins_geojson``.

    Only the allow-listed properties are read; anything else in the file is ignored.

    Raises
    ------
    FileNotFoundError
        Nothing has been published into ``directory`` yet.
    DataError
        The file is not a snapshot this app wrote (the message says what is wrong).
    """
    path = Path(directory) / SNAPSHOT_FILE
    text = path.read_text(encoding="utf-8")  # FileNotFoundError: not published yet
    try:
        collection = json.loads(text)
        updated_on = date.fromisoformat(collection["updated_on"])
        bins = [_bin_from_properties(feature["properties"]) for feature in collection["features"]]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(
            f"{path} is not a knife-bin snapshot ({error}); publish it again with "
            "`python -m dashboard export public-map DIR`"
        ) from error
    return PublicSnapshot(bins=bins, updated_on=updated_on)


def _bin_from_properties(properties: dict[str, object]) -> PublishedBin:
    values = {field.name: properties[field.name] for field in fields(PublishedBin)}
    for name in ("name", "address"):
        if not isinstance(values[name], str):
            raise ValueError(f"{name} must be text")
    if values["guidance"] is not None and not isinstance(values["guidance"], str):
        raise ValueError("guidance must be text or null")
    for name in ("longitude", "latitude"):
        number = values[name]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{name} must be a number")
        if not math.isfinite(number):
            raise ValueError(f"{name} must be finite")
        values[name] = float(number)
    return PublishedBin(**values)
