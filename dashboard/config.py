"""Settings: one frozen object, read once from the environment and ``.streamlit/secrets.toml``.

Environment variables override the secrets file, which overrides the defaults. Nothing else in the
package reads ``os.environ``; functions receive the values they need as arguments.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dashboard import PROJECT_ROOT
from dashboard.errors import ConfigurationError

DATA_DIR = PROJECT_ROOT / "data"  # git-ignored: the default database, caches, saved mappings
DEFAULT_DATABASE_PATH = DATA_DIR / "community_safety.db"
MAPPINGS_DIR = DATA_DIR / "mappings"  # named column mappings for the police extract
SECRETS_PATH = PROJECT_ROOT / ".streamlit" / "secrets.toml"
OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = (
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
)
SETTING_NAMES = (
    "DATABASE_URL",
    "BOROUGH_CODE",
    "BOROUGH_NAME",
    "MAP_TILES",
    "MAP_TILES_KEY",
    "MAP_TILES_ATTRIBUTION",
    "STATIC_URL_PREFIX",
    "DEMO_MODE",
    "PUBLIC_DIR",
    "PUBLIC_GUIDANCE_URL",
    "POLICE_UK_API_URL",
    "MAX_IMPORT_MB",
    "PLACES_FILE",
    "HARM_INDEX_FILE",
    "HOTSPOT_MIN_COUNT",
    "SMALL_NUMBER_THRESHOLD",
    "PROTECTIVE_MARKING",
)
DEFAULT_PUBLIC_DIR = PROJECT_ROOT / "data" / "public"
# Named places (estates, town centres) plan areas can be picked from; the demo's by default
DEFAULT_PLACES_FILE = PROJECT_ROOT / "geodata" / "demo" / "places.geojson"
# Harm weights per category for harm-weighted hotspots (indicative values; see the file)
DEFAULT_HARM_INDEX_FILE = PROJECT_ROOT / "dashboard" / "harm_index.toml"
# Home Office guidance on surrendering knives; councils point this at their own page
DEFAULT_PUBLIC_GUIDANCE_URL = "https://www.gov.uk/government/collections/knife-crime"
TRUE_WORDS = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Everything the app can be configured with (see the README's configuration table)."""

    database_url: str = f"sqlite:///{DEFAULT_DATABASE_PATH}"
    borough_code: str = "E09000032"
    borough_name: str = "Wandsworth"
    map_tiles: str = "osm"
    map_tiles_key: str = ""
    map_tiles_attribution: str = ""
    static_url_prefix: str = "/app/static"
    demo_mode: bool = False  # signed in as demo users without a password; demo database only
    public_dir: str = str(DEFAULT_PUBLIC_DIR)  # the published knife-bin snapshot
    public_guidance_url: str = DEFAULT_PUBLIC_GUIDANCE_URL
    police_uk_api_url: str = "https://data.police.uk/api"  # where `fetch police-uk` asks
    max_import_mb: int = 512  # the largest file the command line imports (the page: maxUploadSize)
    places_file: str = str(DEFAULT_PLACES_FILE)  # GeoJSON polygons with a "name" property
    harm_index_file: str = str(DEFAULT_HARM_INDEX_FILE)
    hotspot_min_count: int = 5  # a cell with fewer incidents is never called a hotspot
    small_number_threshold: int = 10  # counts under it are hidden for partners and in packs
    protective_marking: str = "OFFICIAL-SENSITIVE"  # top and bottom of every page of the pack

    @property
    def tiles_url(self) -> str | None:
        """XYZ URL template of the base map, or None when tiles are switched off."""
        if self.map_tiles == "none":
            return None
        if self.map_tiles == "osm":
            return OSM_TILES
        return self.map_tiles.replace("{key}", self.map_tiles_key)

    @property
    def tiles_attribution(self) -> str:
        """Attribution shown on the map for the configured tiles."""
        if self.map_tiles == "osm":
            return OSM_ATTRIBUTION
        return self.map_tiles_attribution


def _validate(values: Mapping[str, str]) -> None:
    code = values.get("BOROUGH_CODE")
    if code is not None and not (code.startswith("E09") and len(code) == 9):
        raise ConfigurationError(
            f"BOROUGH_CODE must be an ONS local authority code such as E09000032, got {code!r}"
        )
    tiles = values.get("MAP_TILES")
    is_template = tiles is not None and tiles.startswith(("https://", "http://")) and "{z}" in tiles
    if tiles is not None and tiles not in ("osm", "none") and not is_template:
        raise ConfigurationError(
            "MAP_TILES must be 'osm', 'none' or an XYZ URL template containing {z}, {x} and {y}, "
            f"got {tiles!r}"
        )
    guidance = values.get("PUBLIC_GUIDANCE_URL")
    if guidance is not None and not guidance.startswith("https://"):
        raise ConfigurationError(
            f"PUBLIC_GUIDANCE_URL must be an https:// address, got {guidance!r}"
        )
    if values.get("DATABASE_URL") == "":
        raise ConfigurationError(
            "DATABASE_URL is set but empty; unset it to use the SQLite default"
        )


def read_secrets_file(path: Path) -> dict[str, str]:
    """Return the top-level string settings of a Streamlit ``secrets.toml`` (empty if absent)."""
    if not path.exists():
        return {}
    try:
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path} is not valid TOML: {error}") from error
    return {name: str(parsed[name]) for name in SETTING_NAMES if name in parsed}


def load_settings(
    environ: Mapping[str, str] | None = None, secrets_path: Path = SECRETS_PATH
) -> Settings:
    """Build the settings from ``environ`` (default ``os.environ``) over the secrets file.

    Raises ConfigurationError naming the setting when a value cannot be used.
    """
    environ = os.environ if environ is None else environ
    values = read_secrets_file(secrets_path)
    values.update({name: environ[name] for name in SETTING_NAMES if name in environ})
    _validate(values)
    fields: dict[str, object] = {name.lower(): value for name, value in values.items()}
    if "max_import_mb" in fields:
        try:
            fields["max_import_mb"] = int(str(fields["max_import_mb"]))
        except ValueError as error:
            raise ConfigurationError(
                "MAX_IMPORT_MB must be a whole number of megabytes, "
                f"got {fields['max_import_mb']!r}"
            ) from error
    for name, lowest in (("hotspot_min_count", 0), ("small_number_threshold", 1)):
        if name in fields:
            text = str(fields[name]).strip()
            if not text.isdigit() or int(text) < lowest:
                raise ConfigurationError(
                    f"{name.upper()} must be a whole number of incidents ({lowest} or more), "
                    f"got {text!r}"
                )
            fields[name] = int(text)
    if "protective_marking" in fields and not str(fields["protective_marking"]).strip():
        raise ConfigurationError(
            "PROTECTIVE_MARKING is set but empty; unset it for OFFICIAL-SENSITIVE, or give the "
            "marking the pack must carry"
        )
    if "demo_mode" in fields:
        fields["demo_mode"] = str(fields["demo_mode"]).strip().lower() in TRUE_WORDS
    return Settings(**fields)
