import pytest
from pypdf import PdfReader

from dashboard.access import Role
from dashboard.cli import main
from dashboard.public_map import read_public_snapshot
from dashboard.store import queries
from dashboard.store.models import AssetKind
from dashboard.store.session import make_engine
from dashboard.users import principal_for_email
from tests.conftest import WANDSWORTH
from tests.second_borough import LAMBETH


def stats(capsys) -> dict[str, int]:
    assert main(["stats"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {name: int(count) for name, count in (line.split(": ") for line in lines)}


def test_init_db_seed_demo_and_stats_honour_database_url(new_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", new_db_url)
    monkeypatch.delenv("BOROUGH_CODE", raising=False)

    assert main(["init-db"]) == 0
    assert "created or upgraded" in capsys.readouterr().out
    assert stats(capsys)["incident"] == 0

    assert main(["seed-demo"]) == 0
    assert "loaded incident: " in capsys.readouterr().out
    counts = stats(capsys)
    assert main(["seed-demo"]) == 0
    assert capsys.readouterr().out == "demo data already loaded; nothing changed\n"

    assert stats(capsys) == counts
    assert (counts["ward"], counts["cso"], counts["plan"]) == (22, 7, 4)
    assert counts["incident"] > 12_000


def test_commands_on_a_missing_database_say_how_to_create_it(new_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", new_db_url)

    assert main(["stats"]) == 2
    assert "python -m dashboard init-db" in capsys.readouterr().err


def test_a_bad_setting_is_reported_not_raised(monkeypatch, capsys):
    monkeypatch.setenv("MAP_TILES", "satellite")

    assert main(["stats"]) == 2
    assert "MAP_TILES must be" in capsys.readouterr().err


def test_an_unknown_command_is_refused():
    with pytest.raises(SystemExit):
        main(["export-everything"])


def test_the_first_administrator_is_added_from_the_command_line(empty_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)

    assert main(["add-user", "Chief@Council.gov.uk", "--name", "Chief", "--role", "admin"]) == 0
    assert capsys.readouterr().out == "user 1 added: chief@council.gov.uk (admin)\n"
    assert main(["add-user", "chief@council.gov.uk", "--name", "Again", "--role", "cso"]) == 2
    assert "already registered" in capsys.readouterr().err

    from dashboard.store.session import make_engine
    from dashboard.users import principal_for_email

    assert principal_for_email(make_engine(empty_db_url), "chief@council.gov.uk").role == "admin"


def test_import_checks_first_loads_all_or_nothing_and_can_be_undone(
    demo_db_url, monkeypatch, capsys
):
    from dashboard import PROJECT_ROOT

    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    month = PROJECT_ROOT / "tests" / "fixtures" / "police_uk" / "2024-01-metropolitan-street.csv"
    before = stats(capsys)["incident"]

    assert main(["import", "police-uk", str(month), "--dry-run"]) == 0
    dry_run = capsys.readouterr().out
    assert "dry run: nothing was written" in dry_run
    assert stats(capsys)["incident"] == before

    assert main(["import", "police-uk", str(month)]) == 0
    committed = capsys.readouterr().out
    import_id = int(committed.split("import ")[-1].split(" committed")[0])
    loaded = stats(capsys)["incident"] - before
    assert loaded > 0
    assert f": {loaded} rows" in committed.splitlines()[-1].replace(",", "")

    assert main(["undo", str(import_id)]) == 0
    assert f"import {import_id} undone; removed incident {loaded}" in capsys.readouterr().out
    assert stats(capsys)["incident"] == before


def test_a_refused_file_exits_non_zero_with_the_reason(tmp_path, demo_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    assert main(["import", "police-uk", str(empty)]) == 2
    assert "empty.csv is empty" in capsys.readouterr().err


def test_fetch_refuses_a_backwards_month_range_before_any_request(demo_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", demo_db_url)

    assert main(["fetch", "police-uk", "--from", "2024-06", "--to", "2024-01"]) == 2
    assert "runs backwards" in capsys.readouterr().err


def test_a_file_over_the_configured_size_is_refused(tmp_path, demo_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", demo_db_url)
    monkeypatch.setenv("MAX_IMPORT_MB", "1")
    big = tmp_path / "2024-01-metropolitan-street.csv"
    big.write_bytes(b"x" * (1024 * 1024 + 1))

    assert main(["import", "police-uk", str(big)]) == 2
    assert "over the 1 MB limit" in capsys.readouterr().err


# --- a store of two boroughs --------------------------------------------------------------------


@pytest.fixture
def london(london_db_url, london_template, monkeypatch):
    """Settings pointed at a private copy of the two-borough store (BOROUGH_CODE unset)."""
    monkeypatch.setenv("DATABASE_URL", london_db_url)
    monkeypatch.setenv("MAP_TILES", "none")
    monkeypatch.delenv("BOROUGH_CODE", raising=False)
    return london_db_url, london_template[1]


def test_add_user_stores_the_borough_and_london_wide_access(empty_db_url, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    analyst = ["add-user", "ana@lambeth.gov.uk", "--name", "Ana", "--role", "analyst"]

    assert main([*analyst, "--borough", " e09000022 ", "--london-wide"]) == 0
    assert capsys.readouterr().out == (
        "user 1 added: ana@lambeth.gov.uk (analyst, Lambeth, London-wide)\n"
    )
    assert main(["add-user", "cso@wandsworth.gov.uk", "--name", "Sam", "--role", "cso"]) == 0

    principal = principal_for_email(make_engine(empty_db_url), "ana@lambeth.gov.uk", WANDSWORTH)
    assert (principal.borough_code, principal.london_wide) == ("E09000022", True)
    home = principal_for_email(make_engine(empty_db_url), "cso@wandsworth.gov.uk", WANDSWORTH)
    assert (home.borough_code, home.london_wide) == (WANDSWORTH, False)


@pytest.mark.parametrize(
    "command",
    [
        "import assets bins.csv --borough Lambeth",
        "fetch police-uk --from 2024-01 --to 2024-01 --borough Lambeth",
        "stats --borough Lambeth",
        "export patrol --wards E05014017 --weekday FRI --from 18:00 --to 22:00 --borough Lambeth a",
        "add-user a@b.org --name A --role cso --borough Lambeth",
    ],
)
def test_a_bad_borough_is_one_line_of_error_and_nothing_is_done(
    empty_db_url, monkeypatch, capsys, command
):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)

    assert main(command.split()) == 2

    captured = capsys.readouterr()
    assert captured.err == (
        "error: --borough must be an ONS borough code such as E09000032 (Wandsworth), "
        "got 'Lambeth'\n"
    )
    assert captured.out == ""


def test_stats_counts_the_whole_store_or_one_borough(london, capsys):
    _url, lambeth = london

    everything = stats(capsys)
    assert main(["stats", "--borough", "E09000022"]) == 0
    lines = capsys.readouterr().out.splitlines()
    of_lambeth = {name: int(count) for name, count in (line.split(": ") for line in lines)}

    assert (everything["ward"], everything["cso"]) == (44, 8)
    assert (of_lambeth["ward"], of_lambeth["cso"], of_lambeth["asset"]) == (22, 1, 2)
    assert of_lambeth["incident"] == lambeth.incidents
    assert everything["incident"] == 2 * lambeth.incidents


def test_import_with_borough_loads_into_that_borough(london, tmp_path, capsys):
    url, _lambeth = london
    bins = tmp_path / "bins.csv"
    bins.write_text(
        "kind,name,address,latitude,longitude,public,guidance,notes\n"
        "knife_bin,Brixton bin,Brixton Road,51.4572,0.1178,true,,\n"
    )

    assert main(["import", "assets", str(bins), "--borough", "E09000022"]) == 0

    out = capsys.readouterr().out
    assert out.splitlines()[0] == "borough: Lambeth (E09000022)"
    assert "in Lambeth (1 knife_bin)" in out
    engine = make_engine(url)
    lambeth_bins = queries.assets(engine, AssetKind.KNIFE_BIN, Role.ANALYST, boroughs=(LAMBETH,))
    wandsworth_bins = queries.assets(
        engine, AssetKind.KNIFE_BIN, Role.ANALYST, boroughs=(WANDSWORTH,)
    )
    assert lambeth_bins["name"].tolist() == ["Brixton bin"]
    assert wandsworth_bins["name"].tolist() == [
        "Roehampton Library knife amnesty bin",
        "St George's Hospital knife amnesty bin",
    ]


def test_imports_and_undo_keep_to_the_borough_named(london, capsys):
    _url, lambeth = london

    assert main(["imports", "--borough", "E09000022"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [int(line.split("\t")[0]) for line in listed] == [lambeth.import_id]
    assert main(["imports"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # the demo's import and Lambeth's

    assert main(["undo", str(lambeth.import_id), "--borough", WANDSWORTH]) == 2
    assert f"There is no import {lambeth.import_id}" in capsys.readouterr().err


def test_the_quarterly_pack_of_another_borough_is_that_borough_s(london, tmp_path, capsys):
    out = tmp_path / "lambeth.pdf"

    assert main(["export", "quarterly-pack", "--borough", "E09000022", str(out)]) == 0

    cover = " ".join(PdfReader(out).pages[0].extract_text().split())
    assert "Lambeth" in cover
    assert "Wandsworth" not in cover


def test_the_public_map_of_a_borough_shows_that_borough_s_bins(london, tmp_path, capsys):
    _url, lambeth = london

    assert main(["export", "public-map", "--borough", "E09000022", str(tmp_path / "lambeth")]) == 0
    assert main(["export", "public-map", str(tmp_path / "wandsworth")]) == 0

    assert [bin_.name for bin_ in read_public_snapshot(tmp_path / "lambeth").bins] == [
        lambeth.bin_name
    ]
    assert [bin_.name for bin_ in read_public_snapshot(tmp_path / "wandsworth").bins] == [
        "Roehampton Library knife amnesty bin",
        "St George's Hospital knife amnesty bin",
    ]
    page = (tmp_path / "lambeth" / "index.html").read_text(encoding="utf-8")
    assert "Lambeth" in page
    assert "Wandsworth" not in page
