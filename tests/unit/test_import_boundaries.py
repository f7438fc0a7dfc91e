import io
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import func, select

from dashboard import PROJECT_ROOT
from dashboard.access import Role
from dashboard.errors import ImportRefused, InvalidInput, NotAllowed
from dashboard.importers import boundaries
from dashboard.importers.boundaries import (
    commit_boundaries,
    prepare_boundaries,
    read_ons_wards,
    vintages,
)
from dashboard.store import queries
from dashboard.store.models import DataImport, Incident, IncidentWard, Ward
from dashboard.store.session import make_engine, session_scope
from tests.conftest import REALDATA

WANDSWORTH = "E09000032"
ANALYST = Role.ANALYST
WARDS_2022 = PROJECT_ROOT / "geodata" / "wandsworth_wards_2022.geojson"
MERGED_CODE = "E05099999"


def _wards_2022() -> gpd.GeoDataFrame:
    return gpd.read_file(WARDS_2022)


def _geojson_bytes(frame: gpd.GeoDataFrame, tmp_path: Path, name: str = "wards.geojson") -> bytes:
    path = tmp_path / name
    frame.to_file(path, driver="GeoJSON")
    return path.read_bytes()


def _zipped_shapefile(frame: gpd.GeoDataFrame, tmp_path: Path, with_prj: bool = True) -> bytes:
    folder = tmp_path / "shp"
    folder.mkdir()
    frame.to_file(folder / "wards.shp")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if with_prj or path.suffix != ".prj":
                archive.write(path, f"WD22_London/{path.name}")
    return buffer.getvalue()


def _state(engine) -> dict[str, object]:
    """What a refused or failed import must leave exactly as it was."""
    with session_scope(engine) as session:
        return {
            "ward": session.scalar(select(func.count(Ward.id))),
            "incident_ward": session.scalar(select(func.count()).select_from(IncidentWard)),
            "data_import": session.scalar(select(func.count(DataImport.id))),
            "incident_wards": dict(session.execute(select(Incident.id, Incident.ward_code)).all()),
        }


def _incident_wards(engine, vintage: str) -> dict[int, str | None]:
    with session_scope(engine) as session:
        return dict(
            session.execute(
                select(IncidentWard.incident_id, IncidentWard.ward_code).where(
                    IncidentWard.vintage == vintage
                )
            ).all()
        )


def _neighbours(wards: gpd.GeoDataFrame) -> tuple[str, str]:
    """Two 2022 wards that share an edge (not just a corner)."""
    bng = wards.to_crs(27700)
    for i, first in bng.iterrows():
        for j, second in bng.iterrows():
            if i < j and first.geometry.intersection(second.geometry).length > 500:
                return first["WD22CD"], second["WD22CD"]
    raise AssertionError("no neighbouring wards")


def test_the_2022_wards_imported_again_as_a_correction_keep_every_incident_ward(demo_db_url):
    engine = make_engine(demo_db_url)
    before = _state(engine)
    history_before = _incident_wards(engine, "2022")

    prepared = prepare_boundaries(
        engine, [("wards.geojson", WARDS_2022.read_bytes())], WANDSWORTH, ANALYST
    )
    assert prepared.report.rows_accepted == 22
    assert prepared.report.rejected == []
    assert any("replaced by this file (a correction)" in w for w in prepared.report.warnings)
    assert _state(engine) == before  # preparing writes nothing

    import_id = commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)

    after = _state(engine)
    assert after["ward"] == 22
    assert after["incident_wards"] == before["incident_wards"]
    assert _incident_wards(engine, "2022") == history_before
    wards = queries.current_wards(engine, WANDSWORTH, ANALYST)
    assert wards["population"].notna().all()  # carried over from the wards replaced
    with session_scope(engine) as session:
        assert set(session.scalars(select(Ward.import_id))) == {import_id}
        assert session.get(DataImport, import_id).kind == "boundaries"


def test_a_correction_that_drops_a_ward_a_plan_covers_is_refused_and_changes_nothing(
    demo_db_url, tmp_path
):
    engine = make_engine(demo_db_url)
    wards = _wards_2022()
    roehampton, west_putney = "E05014017", "E05014030"  # the Alton Estate plan covers both
    merged = wards[wards["WD22CD"].isin([roehampton, west_putney])].union_all()
    corrected = wards[wards["WD22CD"] != roehampton].copy()
    corrected.loc[corrected["WD22CD"] == west_putney, "geometry"] = merged
    before = _state(engine)
    prepared = prepare_boundaries(
        engine, [("wards.geojson", _geojson_bytes(corrected, tmp_path))], WANDSWORTH, ANALYST
    )

    with pytest.raises(InvalidInput, match="Alton Estate youth violence and exploitation"):
        commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)

    assert _state(engine) == before


def test_a_newer_vintage_merging_two_wards_becomes_current_and_keeps_2022_history(
    demo_db_url, tmp_path
):
    engine = make_engine(demo_db_url)
    wards = _wards_2022()
    first, second = _neighbours(wards)
    merged = wards[wards["WD22CD"].isin([first, second])].union_all()
    rest = wards[~wards["WD22CD"].isin([first, second])]
    new = gpd.GeoDataFrame(
        {
            "WD26CD": [*rest["WD22CD"], MERGED_CODE],
            "WD26NM": [*rest["WD22NM"], "Merged Ward"],
            "LAD26CD": WANDSWORTH,
        },
        geometry=[*rest.geometry, merged],
        crs=wards.crs,
    )
    history_2022 = _incident_wards(engine, "2022")

    prepared = prepare_boundaries(
        engine, [("wards_2026.geojson", _geojson_bytes(new, tmp_path))], WANDSWORTH, ANALYST
    )
    assert prepared.payload.vintage == "2026"
    commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)

    current = queries.current_wards(engine, WANDSWORTH, ANALYST)
    assert len(current) == 21
    assert MERGED_CODE in set(current["code"])
    assert {first, second}.isdisjoint(current["code"])
    in_merged = [i for i, code in history_2022.items() if code in (first, second)]
    assert in_merged
    with session_scope(engine) as session:
        now = dict(session.execute(select(Incident.id, Incident.ward_code)).all())
    assert {now[i] for i in in_merged} == {MERGED_CODE}
    assert all(now[i] == code for i, code in history_2022.items() if i not in set(in_merged))
    assert _incident_wards(engine, "2022") == history_2022  # the old ward set's history stays
    history_2026 = _incident_wards(engine, "2026")
    assert history_2026 == now
    assert vintages(engine, WANDSWORTH, ANALYST) == ["2026", "2022"]
    old = queries.wards_of_vintage(engine, WANDSWORTH, "2022", ANALYST)
    assert len(old) == 22
    assert {first, second} <= set(old["code"])
    merged_row = current[current["code"] == MERGED_CODE]
    assert merged_row["population"].isna().all()  # a new code has no population to carry
    assert current[current["code"] != MERGED_CODE]["population"].notna().all()


def test_a_geopackage_is_read(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    path = tmp_path / "wards.gpkg"
    _wards_2022().to_file(path, driver="GPKG")

    prepared = prepare_boundaries(engine, [(path.name, path.read_bytes())], WANDSWORTH, ANALYST)

    assert prepared.report.rows_accepted == 22
    assert prepared.payload.wards.crs.to_epsg() == 4326


def test_a_zipped_shapefile_in_british_national_grid_is_reprojected(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    wards = _wards_2022()
    content = _zipped_shapefile(wards.to_crs(27700), tmp_path)

    prepared = prepare_boundaries(engine, [("WD22_London.zip", content)], WANDSWORTH, ANALYST)

    loaded = prepared.payload.wards
    assert loaded.crs.to_epsg() == 4326
    assert list(loaded["code"]) == sorted(wards["WD22CD"])
    original = wards.set_index("WD22CD").geometry.to_crs(27700)
    moved_m = loaded.set_index("code").geometry.to_crs(27700).centroid.distance(original.centroid)
    assert moved_m.max() < 1.0
    before = _state(make_engine(demo_db_url))
    commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)
    assert _state(engine)["incident_wards"] == before["incident_wards"]


def test_a_zipped_shapefile_without_its_prj_is_refused(demo_db_url, tmp_path):
    engine = make_engine(demo_db_url)
    before = _state(engine)
    content = _zipped_shapefile(_wards_2022().to_crs(27700), tmp_path, with_prj=False)

    with pytest.raises(ImportRefused, match=r"has no \.prj: the coordinate system is unknown"):
        prepare_boundaries(engine, [("WD22_London.zip", content)], WANDSWORTH, ANALYST)
    assert _state(engine) == before


def test_an_invalid_bow_tie_polygon_is_repaired_with_a_warning_naming_the_ward(
    demo_db_url, tmp_path
):
    engine = make_engine(demo_db_url)
    wards = _wards_2022()
    bowtie_row = wards.index[wards["WD22CD"] == "E05014009"][0]
    x, y = -0.15, 51.445
    bowtie = Polygon([(x, y), (x + 0.01, y + 0.01), (x + 0.01, y), (x, y + 0.01), (x, y)])
    assert not bowtie.is_valid
    wards.loc[bowtie_row, "geometry"] = bowtie

    prepared = prepare_boundaries(
        engine, [("wards.geojson", _geojson_bytes(wards, tmp_path))], WANDSWORTH, ANALYST
    )

    assert prepared.report.rows_accepted == 22
    [warning] = [w for w in prepared.report.warnings if "repaired" in w]
    assert "E05014009 Balham" in warning
    repaired = prepared.payload.wards.set_index("code").geometry["E05014009"]
    assert repaired.is_valid
    assert repaired.geom_type == "MultiPolygon"
    assert len(shapely.get_parts(repaired)) == 2


def test_missing_geometry_and_duplicate_codes_are_row_errors_and_block_the_commit(
    demo_db_url, tmp_path
):
    engine = make_engine(demo_db_url)
    before = _state(engine)
    wards = _wards_2022()
    wards.loc[0, "geometry"] = None
    wards.loc[2, "WD22CD"] = wards.loc[1, "WD22CD"]

    prepared = prepare_boundaries(
        engine, [("wards.geojson", _geojson_bytes(wards, tmp_path))], WANDSWORTH, ANALYST
    )

    errors = {(e.line, e.column): e.reason for e in prepared.report.rejected}
    assert errors[(1, "geometry")] == f"ward {wards.loc[0, 'WD22CD']} has no geometry"
    assert "appears 2 times in the file" in errors[(2, "WD22CD")]
    assert (3, "WD22CD") in errors
    assert prepared.report.rows_accepted == 19
    with pytest.raises(ImportRefused, match="a ward set is loaded whole"):
        commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)
    assert _state(engine) == before


def _another_borough(tmp_path: Path) -> tuple[str, bytes]:
    wards = _wards_2022().assign(LAD22CD="E09000022")
    return "lambeth.geojson", _geojson_bytes(wards, tmp_path)


def _no_ward_code(tmp_path: Path) -> tuple[str, bytes]:
    wards = _wards_2022().rename(columns={"WD22CD": "CODE"})
    return "wards.geojson", _geojson_bytes(wards, tmp_path)


def _no_features(tmp_path: Path) -> tuple[str, bytes]:
    return "wards.geojson", b'{"type": "FeatureCollection", "features": []}'


@pytest.mark.parametrize(
    ("make_file", "message"),
    [
        (_another_borough, r"no ward in borough E09000032; the boroughs in it are: E09000022"),
        (_no_ward_code, r"has no ward code column \(WDyyCD"),
        (_no_features, r"holds no features|could not be read"),
        (lambda _: ("wards.geojson", b""), r"wards.geojson is empty"),
        (
            lambda _: ("wards.csv", b"WD22CD,WD22NM,LAD22CD\nE05014009,Balham,E09000032\n"),
            r"is not a boundary file \(a CSV holds no boundaries\)",
        ),
        (
            lambda _: ("wards.geojson", b"WD22CD,WD22NM\nE05014009,Balham\n"),
            r"could not be read as geographic data",
        ),
        (lambda _: ("wards.zip", b"PK\x03\x04 not really"), r"not a readable zip file"),
    ],
    ids=["other-borough", "no-WDyyCD", "no-features", "empty", "csv", "csv-as-geojson", "bad-zip"],
)
def test_unusable_boundary_files_are_refused_and_change_nothing(
    demo_db_url, tmp_path, make_file, message
):
    engine = make_engine(demo_db_url)
    before = _state(engine)

    with pytest.raises(ImportRefused, match=message):
        prepare_boundaries(engine, [make_file(tmp_path)], WANDSWORTH, ANALYST)
    assert _state(engine) == before


def test_a_failure_part_way_through_the_commit_leaves_the_store_unchanged(
    demo_db_url, tmp_path, monkeypatch
):
    engine = make_engine(demo_db_url)
    before = _state(engine)
    new = _wards_2022().rename(columns={"WD22CD": "WD26CD", "WD22NM": "WD26NM"})
    prepared = prepare_boundaries(
        engine, [("wards_2026.geojson", _geojson_bytes(new, tmp_path))], WANDSWORTH, ANALYST
    )

    def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(boundaries, "assign_ward_codes", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)
    assert _state(engine) == before
    assert vintages(engine, WANDSWORTH, ANALYST) == ["2022"]


def test_only_roles_that_load_data_may_import_boundaries(demo_db_url):
    engine = make_engine(demo_db_url)
    with pytest.raises(NotAllowed):
        prepare_boundaries(engine, [("w.geojson", WARDS_2022.read_bytes())], WANDSWORTH, Role.CSO)


def test_the_demo_reader_still_returns_wards_and_vintage():
    wards, vintage = read_ons_wards(WARDS_2022, WANDSWORTH)
    assert (len(wards), vintage) == (22, "2022")
    assert list(wards.columns) == ["code", "name", "geometry"]


@pytest.mark.skipif(
    not (REALDATA / "boundaries").is_dir(), reason=f"real data not present at {REALDATA}"
)
def test_the_real_2022_ward_file_imports_22_wards(empty_db_url):
    engine = make_engine(empty_db_url)
    content = (REALDATA / "boundaries" / "wandsworth_wards_2022.geojson").read_bytes()

    prepared = prepare_boundaries(
        engine, [("wandsworth_wards_2022.geojson", content)], WANDSWORTH, ANALYST
    )
    commit_boundaries(engine, prepared, "analyst@example.org", ANALYST)

    wards = queries.current_wards(engine, WANDSWORTH, ANALYST)
    assert sorted(wards["code"]) == [f"E050140{n:02d}" for n in range(9, 31)]
    assert prepared.report.warnings == []


def test_a_zip_bomb_is_refused_while_unpacking():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("wards.shp", b"0" * 5_000_000)
    with pytest.raises(ImportRefused, match="refused while unpacking"):
        boundaries.read_geo_files([("bomb.zip", buffer.getvalue())], max_unzipped_bytes=1_000_000)


def test_zip_member_paths_cannot_escape_and_two_layers_are_refused(tmp_path):
    wards = _wards_2022()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../escape/a.geojson", _geojson_bytes(wards, tmp_path, "a.geojson"))
        archive.writestr("b.gpkg", b"not used")
    with pytest.raises(ImportRefused, match=r"several boundary layers \(a.geojson, b.gpkg\)"):
        boundaries.read_geo_files([("two.zip", buffer.getvalue())])  # bare names only
