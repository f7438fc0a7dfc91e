import re
from pathlib import Path

import pytest

from dashboard.config import OSM_TILES, load_settings
from dashboard.errors import ConfigurationError


def test_defaults_use_a_sqlite_file_wandsworth_and_openstreetmap(tmp_path: Path):
    settings = load_settings({}, secrets_path=tmp_path / "absent.toml")

    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("data/community_safety.db")
    assert settings.borough_code == "E09000032"
    assert settings.tiles_url == OSM_TILES
    assert "OpenStreetMap" in settings.tiles_attribution


def test_environment_overrides_the_secrets_file(tmp_path: Path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('BOROUGH_CODE = "E09000022"\nMAP_TILES = "none"\n', encoding="utf-8")

    settings = load_settings({"BOROUGH_CODE": "E09000028"}, secrets_path=secrets)

    assert settings.borough_code == "E09000028"
    assert settings.map_tiles == "none"
    assert settings.tiles_url is None


def test_an_xyz_template_gets_its_key_filled_in(tmp_path: Path):
    settings = load_settings(
        {
            "MAP_TILES": "https://tiles.example.org/{z}/{x}/{y}.png?key={key}",
            "MAP_TILES_KEY": "abc123",
            "MAP_TILES_ATTRIBUTION": "Example tiles",
        },
        secrets_path=tmp_path / "absent.toml",
    )

    assert settings.tiles_url == "https://tiles.example.org/{z}/{x}/{y}.png?key=abc123"
    assert settings.tiles_attribution == "Example tiles"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BOROUGH_CODE", "Wandsworth", "ONS local authority code"),
        ("MAP_TILES", "mapbox", "XYZ URL template"),
        ("MAP_TILES", "https://tiles.example.org/tile.png", "XYZ URL template"),
        ("DATABASE_URL", "", "unset it"),
        ("MAX_IMPORT_MB", "lots", "whole number of megabytes"),
        ("PUBLIC_GUIDANCE_URL", "http://example.org", "https://"),
    ],
)
def test_unusable_values_are_refused_with_what_to_do(tmp_path: Path, name, value, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        load_settings({name: value}, secrets_path=tmp_path / "absent.toml")


def test_a_broken_secrets_file_names_itself(tmp_path: Path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("BOROUGH_CODE = ", encoding="utf-8")

    with pytest.raises(ConfigurationError, match=r"secrets\.toml is not valid TOML"):
        load_settings({}, secrets_path=secrets)


def test_streamlit_serves_the_map_assets_and_reports_nothing_home():
    import tomllib

    from dashboard import PROJECT_ROOT

    config = tomllib.loads(
        (PROJECT_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8")
    )

    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["enableStaticServing"] is True
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableCORS"] is True  # Streamlit's "true" limits cross-origin access
    assert config["server"]["maxUploadSize"] == 50  # MB


def test_static_serving_holds_only_the_packaged_map_assets(tmp_path: Path):
    from dashboard.config import DEFAULT_PUBLIC_DIR
    from dashboard.static_assets import DRAW_SOURCE, NODE_MODULES, STATIC_DIR, prepare_static

    written = prepare_static(tmp_path / "static")

    packages = {("vendor", "leaflet"), ("vendor", "jquery")}
    # Leaflet.draw comes from npm, when npm was there to install it
    if (NODE_MODULES / DRAW_SOURCE).is_dir():
        packages.add(("vendor", "leaflet-draw"))
    assert {path.relative_to(tmp_path / "static").parts[:2] for path in written} == packages
    assert all(path.suffix in {".js", ".css", ".png", ".svg"} for path in written)
    # exports and data are written elsewhere, never where Streamlit serves files
    assert not DEFAULT_PUBLIC_DIR.is_relative_to(STATIC_DIR)
