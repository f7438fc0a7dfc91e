"""The public knife-bin map: only public bins, only allow-listed fields, escaped, written whole."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import fields
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import event, update

from dashboard import exports
from dashboard.access import PUBLIC_ASSET_FIELDS
from dashboard.cli import main
from dashboard.config import OSM_TILES, Settings
from dashboard.errors import ConfigurationError, DataError
from dashboard.exports import export_public_map, published_bins
from dashboard.public_map import (
    PublishedBin,
    bins_geojson,
    public_map_html,
    read_public_snapshot,
    script_safe_json,
)
from dashboard.store.models import Asset, AssetKind
from dashboard.store.session import make_engine, session_scope

DEMO_BINS = ["Roehampton Library knife amnesty bin", "St George's Hospital knife amnesty bin"]
GUIDANCE_URL = "https://www.example.gov.uk/knife-amnesty"
EXPORTED_ON = date(2026, 11, 7)
SCRIPT_PAYLOAD = "<script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=alert(2)>"
NO_TILES = Settings(map_tiles="none", public_guidance_url=GUIDANCE_URL)


def add_asset(engine, **values) -> None:
    defaults = {
        "kind": AssetKind.KNIFE_BIN,
        "address": "1 Test Street, London SW18 1AA",
        "longitude": -0.19,
        "latitude": 51.45,
        "public": True,
        "guidance": "Wrap the blade.",
    }
    with session_scope(engine) as session:
        session.add(Asset(**{**defaults, **values}))


def page_for(bins: list[PublishedBin], tiles_url: str | None = None, attribution: str = "") -> str:
    return public_map_html(
        bins,
        asset_prefix="assets/",
        tiles_url=tiles_url,
        tiles_attribution=attribution,
        borough_name="Wandsworth",
        guidance_url=GUIDANCE_URL,
        updated_on=EXPORTED_ON,
    )


def json_block(page: str, block_id: str) -> str:
    start = page.index(f'<script type="application/json" id="{block_id}">')
    start = page.index(">", start) + 1
    return page[start : page.index("</script>", start)]  # where an HTML parser ends the element


class Addresses(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found |= {value for name, value in attrs if name in ("src", "href") and value}


def addresses(page: str) -> set[str]:
    parser = Addresses()
    parser.feed(page)
    return parser.found


def all_text(directory: Path) -> str:
    return "\n".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    )


def test_a_published_bin_has_exactly_the_allow_listed_fields():
    assert tuple(field.name for field in fields(PublishedBin)) == PUBLIC_ASSET_FIELDS


def test_only_public_knife_bins_are_published_sorted_by_name(demo_db_url):
    engine = make_engine(demo_db_url)
    add_asset(engine, name="A private bin", public=False)
    add_asset(engine, name="A public bus stop", kind=AssetKind.YOUTH_BUS_STOP)
    add_asset(engine, name="Balham Library knife amnesty bin")

    bins = published_bins(engine)

    assert [bin_.name for bin_ in bins] == ["Balham Library knife amnesty bin", *DEMO_BINS]
    roehampton = bins[1]
    assert roehampton.address == "Roehampton Library, Danebury Avenue, London SW15 4HD"
    assert (roehampton.longitude, roehampton.latitude) == pytest.approx((-0.24493, 51.44966))
    assert roehampton.guidance.startswith("This knife amnesty bin is for handing in knives")


def test_the_store_is_asked_for_the_allow_listed_columns_only(demo_db_url):
    engine = make_engine(demo_db_url)
    statements: list[str] = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda *args: statements.append(" ".join(args[2].lower().split())),
    )

    published_bins(engine)

    [query] = [sql for sql in statements if " from asset" in sql]
    selected = query.split("select", 1)[1].split("from asset", 1)[0]
    columns = {column.strip() for column in selected.split(",")}
    assert columns == {f"asset.{field}" for field in PUBLIC_ASSET_FIELDS}


def test_an_internal_note_and_private_bin_never_reach_the_export(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    with session_scope(engine) as session:
        session.execute(
            update(Asset).where(Asset.name == DEMO_BINS[0]).values(notes="CANARY-NOTE-Basalt")
        )
    add_asset(engine, name="CANARY-PRIVATE-BIN", public=False, notes="CANARY-NOTE-Shale")

    index = export_public_map(engine, tmp_path / "public", NO_TILES, EXPORTED_ON)

    written = all_text(index.parent)
    assert DEMO_BINS[0] in written
    for canary in ("CANARY-NOTE-Basalt", "CANARY-PRIVATE-BIN", "CANARY-NOTE-Shale"):
        assert canary not in written


def test_the_export_writes_the_page_the_bins_and_leaflet(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)

    index = export_public_map(engine, tmp_path / "public", NO_TILES, EXPORTED_ON)

    out_dir = tmp_path / "public"
    assert index == out_dir / "index.html"
    written = sorted(path.name for path in out_dir.iterdir())
    assert written == ["assets", "bins.geojson", "index.html"]
    assert (out_dir / "assets" / "leaflet.js").read_text().count("Leaflet 1.9.3") == 1
    assert ".leaflet-container" in (out_dir / "assets" / "leaflet.css").read_text()
    collection = json.loads((out_dir / "bins.geojson").read_text())
    assert collection["updated_on"] == "2026-11-07"
    assert [f["properties"]["name"] for f in collection["features"]] == DEMO_BINS
    for feature in collection["features"]:
        assert tuple(feature["properties"]) == PUBLIC_ASSET_FIELDS
        assert feature["geometry"]["coordinates"] == [
            feature["properties"]["longitude"],
            feature["properties"]["latitude"],
        ]
    assert "<title>Knife amnesty bins in Wandsworth</title>" in index.read_text()
    assert 'Last updated <time datetime="2026-11-07">7 November 2026</time>' in index.read_text()


def test_the_snapshot_reads_back_the_same_bins_and_ignores_anything_else(tmp_path):
    bins = [PublishedBin("Bin", "1 High Street", -0.2, 51.4, None)]
    collection = json.loads(bins_geojson(bins, EXPORTED_ON))
    collection["features"][0]["properties"]["notes"] = "hand-edited into the file"
    (tmp_path / "bins.geojson").write_text(json.dumps(collection))

    snapshot = read_public_snapshot(tmp_path)

    assert snapshot.bins == bins
    assert snapshot.updated_on == EXPORTED_ON


def test_a_broken_snapshot_says_how_to_publish_again(tmp_path):
    (tmp_path / "bins.geojson").write_text('{"type": "FeatureCollection", "features": []}')

    with pytest.raises(DataError, match="export public-map"):
        read_public_snapshot(tmp_path)
    with pytest.raises(FileNotFoundError):
        read_public_snapshot(tmp_path / "never-published")


def test_names_addresses_and_guidance_are_escaped_in_the_page():
    bins = [
        PublishedBin(SCRIPT_PAYLOAD, IMG_PAYLOAD, -0.2, 51.4, SCRIPT_PAYLOAD),
        PublishedBin(IMG_PAYLOAD, "</script><script>alert(3)</script>", -0.21, 51.41, None),
    ]

    page = page_for(bins)

    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert SCRIPT_PAYLOAD not in page
    assert IMG_PAYLOAD not in page
    assert "alert(3)</script>" not in page
    # the JSON block runs to the page's first </script> after it, and holds every bin whole
    block = json_block(page, "bins-data")
    assert "<" not in block
    assert [bin_["name"] for bin_ in json.loads(block)] == [SCRIPT_PAYLOAD, IMG_PAYLOAD]
    assert json.loads(block)[1]["address"] == "</script><script>alert(3)</script>"


def test_script_safe_json_escapes_what_could_end_a_script_element():
    text = script_safe_json({"name": "</script><!-- & \u2028"})

    assert not set(text) & {"<", ">", "&", "\u2028"}
    assert json.loads(text) == {"name": "</script><!-- & \u2028"}


def test_without_tiles_the_page_links_only_to_its_assets_phones_and_guidance():
    page = page_for([PublishedBin("Bin", "1 High Street", -0.2, 51.4, "Wrap it.")])

    assert addresses(page) == {
        "#bin-list",
        "assets/leaflet.css",
        "assets/leaflet.js",
        "tel:999",
        "tel:101",
        "tel:0800555111",
        GUIDANCE_URL,
    }
    assert set(re.findall(r"https?://[^\s\"'<>\\;]+", page)) == {GUIDANCE_URL}
    assert "img-src 'none'" in page.replace("&#39;", "'")
    assert json.loads(json_block(page, "map-config"))["tilesUrl"] is None


def test_with_osm_tiles_only_the_tile_host_and_its_attribution_are_added():
    settings = Settings(map_tiles="osm")
    page = page_for(
        [PublishedBin("Bin", "1 High Street", -0.2, 51.4, None)],
        tiles_url=settings.tiles_url,
        attribution=settings.tiles_attribution,
    )

    hosts = {url.split("/")[2] for url in re.findall(r"https?://[^\s\"'<>\\;]+", page)}
    assert hosts == {"www.example.gov.uk", "tile.openstreetmap.org", "www.openstreetmap.org"}
    assert "img-src https://tile.openstreetmap.org;" in page.replace("&#39;", "'")
    config = json.loads(json_block(page, "map-config"))
    assert config["tilesUrl"] == OSM_TILES
    assert "OpenStreetMap</a> contributors" in config["tilesAttribution"]


def test_the_content_security_policy_pins_the_page_script_and_style():
    page = page_for([PublishedBin("Bin", "1 High Street", -0.2, 51.4, None)])
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)[1]
    script = re.search(r"<script>(.*?)</script>", page, re.DOTALL)[1]
    style = re.search(r"<style>(.*?)</style>", page, re.DOTALL)[1]

    def pinned(text: str) -> str:
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        return f"&#39;sha256-{digest}&#39;"

    assert f"script-src &#39;self&#39; {pinned(script)};" in policy
    assert f"style-src &#39;self&#39; {pinned(style)};" in policy
    assert policy.startswith("default-src &#39;none&#39;;")


def test_a_page_with_no_bins_says_so_and_loads_no_map():
    page = page_for([])

    assert "has not published any knife amnesty bins yet" in page
    assert "leaflet.js" not in page
    assert 'id="map"' not in page


def test_a_guidance_address_that_is_not_https_is_refused():
    with pytest.raises(ConfigurationError, match="PUBLIC_GUIDANCE_URL"):
        public_map_html(
            [],
            asset_prefix="assets/",
            tiles_url=None,
            tiles_attribution="",
            borough_name="Wandsworth",
            guidance_url="javascript:alert(1)",
            updated_on=EXPORTED_ON,
        )


def test_a_failed_export_leaves_the_previous_one_untouched(demo_db_url, tmp_path, monkeypatch):
    engine = make_engine(demo_db_url)
    out_dir = tmp_path / "web" / "public"
    export_public_map(engine, out_dir, NO_TILES, date(2026, 1, 5))
    before = {path: path.read_bytes() for path in out_dir.rglob("*") if path.is_file()}
    add_asset(engine, name="A bin added since")

    def broken_copy(_asset_dir: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(exports, "_copy_leaflet", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        export_public_map(engine, out_dir, NO_TILES, date(2026, 2, 9))

    after = {path: path.read_bytes() for path in out_dir.rglob("*") if path.is_file()}
    assert after == before
    assert "5 January 2026" in (out_dir / "index.html").read_text()
    assert [path.name for path in out_dir.parent.iterdir()] == ["public"]  # no leftovers


def test_a_failed_first_export_leaves_no_folder(demo_db_url, tmp_path, monkeypatch):
    def broken_copy(_asset_dir: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(exports, "_copy_leaflet", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        export_public_map(
            make_engine(demo_db_url), tmp_path / "web" / "public", NO_TILES, EXPORTED_ON
        )

    assert list((tmp_path / "web").iterdir()) == []


def test_a_second_export_replaces_the_first(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    out_dir = tmp_path / "web" / "public"
    export_public_map(engine, out_dir, NO_TILES, date(2026, 1, 5))
    add_asset(engine, name="A bin added since")

    export_public_map(engine, out_dir, NO_TILES, date(2026, 2, 9))

    assert "9 February 2026" in (out_dir / "index.html").read_text()
    assert len(read_public_snapshot(out_dir).bins) == 3
    assert [path.name for path in out_dir.parent.iterdir()] == ["public"]  # no leftovers
    assert out_dir.stat().st_mode & 0o055 == 0o055  # group and others can read it (web server)


def test_a_folder_holding_other_files_is_not_replaced(demo_db_url, tmp_path):
    (tmp_path / "website").mkdir()
    (tmp_path / "website" / "about.html").write_text("the council's own page")

    with pytest.raises(DataError, match=r"about\.html"):
        export_public_map(make_engine(demo_db_url), tmp_path / "website", NO_TILES, EXPORTED_ON)

    assert (tmp_path / "website" / "about.html").read_text() == "the council's own page"


def test_cli_export_public_map_writes_the_folder_and_prints_the_count(seeded_db, tmp_path, capsys):
    assert main(["export", "public-map", str(tmp_path / "web")]) == 0

    output = capsys.readouterr().out
    assert output == f"public knife-bin map: 2 bins written to {tmp_path / 'web' / 'index.html'}\n"
    assert (tmp_path / "web" / "assets" / "leaflet.js").is_file()
    assert [bin_.name for bin_ in read_public_snapshot(tmp_path / "web").bins] == DEMO_BINS


def test_cli_export_needs_a_folder(seeded_db, capsys):
    with pytest.raises(SystemExit):
        main(["export", "public-map"])
    assert "DIR" in capsys.readouterr().err


def test_cli_prepare_publishes_the_snapshot_for_the_public_app(
    seeded_db, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PUBLIC_DIR", str(tmp_path / "public"))

    assert main(["prepare"]) == 0

    assert "public knife-bin map: 2 bins written to" in capsys.readouterr().out
    assert [bin_.name for bin_ in read_public_snapshot(tmp_path / "public").bins] == DEMO_BINS


def test_published_bins_reads_a_fresh_store_as_empty(empty_db_url):
    engine = make_engine(empty_db_url)

    assert published_bins(engine) == []
