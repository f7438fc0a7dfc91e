import pytest

from dashboard.cli import main


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
