"""The quarterly pack, read back: the PDF's pages and headline numbers against the store itself.

The report is built from a copy of the real demo store as an analyst would see it; the numbers
the tests expect are counted straight from the ``incident`` table with SQL, not through the
code under test.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from datetime import date

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import text

from dashboard import quarterly, quarterly_report
from dashboard.access import Role
from dashboard.cli import main
from dashboard.dates import today_in_london
from dashboard.quarterly import Quarter
from dashboard.quarterly_pack import (
    CHANGE_TEST_SENTENCE,
    GROUP_NAME,
    SECTIONS,
    WORKBOOK_SHEETS,
    pack_pdf,
    pack_workbook,
    page_count,
)
from dashboard.store.session import make_engine
from dashboard.taxonomy import load_taxonomy
from tests.stores import Stores

WANDSWORTH = "E09000032"
MARKING = "OFFICIAL-SENSITIVE"
GENERATED = date(2026, 11, 27)


@dataclass(frozen=True)
class Pack:
    """A report and its PDF, with each page's text."""

    report: quarterly_report.QuarterlyReport
    pdf: bytes
    pages: list[str]

    def page_with(self, heading: str) -> str:
        """The text of the page whose section starts with ``heading``."""
        found = [page for page in self.pages[2:] if re.search(rf"^{heading}$", page, re.M)]
        assert found, f"no page has the heading {heading!r}"
        return found[0]


def read_pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def has_number(page: str, number: str) -> bool:
    """``number`` ("1,175", "<10") appears as a whole figure, not inside a longer one."""
    return re.search(rf"(?<![\d,]){re.escape(number)}(?![\d,])", page) is not None


def store_count(database_url: str, quarter: Quarter, flag: str | None = None) -> int:
    """Serious violence in ``quarter``, counted with SQL from the incident table."""
    serious = sorted(quarterly.serious_violence_categories(load_taxonomy()))
    names = ", ".join(f":c{index}" for index in range(len(serious)))
    sql = (
        f"SELECT count(*) FROM incident WHERE category IN ({names}) "
        "AND occurred_on BETWEEN :start AND :end" + (f" AND {flag} = true" if flag else "")
    )
    engine = make_engine(database_url)
    with engine.connect() as connection:
        count = connection.execute(
            text(sql),
            {
                "start": quarter.start.isoformat(),
                "end": quarter.end.isoformat(),
                **{f"c{index}": key for index, key in enumerate(serious)},
            },
        ).scalar_one()
    engine.dispose()
    return int(count)


@pytest.fixture(scope="module")
def store_url(stores: Stores, demo_template_url: str) -> str:
    """A private copy of the demo store for this module (the reports only read it)."""
    return stores.copy(demo_template_url, "pack")


@pytest.fixture(scope="module")
def inputs(store_url: str) -> quarterly_report.ReportInputs:
    engine = make_engine(store_url)
    read = quarterly_report.read_inputs(engine, Role.ANALYST, WANDSWORTH, today_in_london(), True)
    engine.dispose()
    return read


@pytest.fixture(scope="module")
def quarter(inputs: quarterly_report.ReportInputs) -> Quarter:
    found = quarterly_report.default_quarter(inputs, today_in_london())
    assert found is not None
    return found


def build_pack(inputs, quarter: Quarter, *, suppress: bool) -> Pack:
    report = quarterly_report.build_report(inputs, quarter, suppress=suppress)
    pdf = pack_pdf(report, borough_name="Wandsworth", generated_on=GENERATED, marking=MARKING)
    return Pack(report, pdf, read_pages(pdf))


@pytest.fixture(scope="module")
def suppressed(inputs, quarter: Quarter) -> Pack:
    return build_pack(inputs, quarter, suppress=True)


@pytest.fixture(scope="module")
def internal(inputs, quarter: Quarter) -> Pack:
    return build_pack(inputs, quarter, suppress=False)


# --- the PDF -------------------------------------------------------------------------------------


def test_every_page_is_numbered_and_marked_top_and_bottom(suppressed: Pack):
    total = len(suppressed.pages)

    assert total >= 9  # cover, contents and at least a page per part
    assert page_count(suppressed.pdf) == total
    for number, page in enumerate(suppressed.pages, start=1):
        assert f"Page {number} of {total}" in page
        assert page.count(MARKING) >= 2, f"page {number} lacks the marking top or bottom"
    assert "Page 1 of" in suppressed.pages[0]


def test_cover_names_the_group_the_quarter_and_the_suppression(suppressed: Pack, internal: Pack):
    cover = " ".join(suppressed.pages[0].split())  # justified lines may hold double spaces

    assert "Wandsworth" in cover
    assert GROUP_NAME in cover
    assert suppressed.report.title in cover
    assert "Generated 27 November 2026" in cover
    assert f"Marking: {MARKING}" in cover
    assert (
        "Figures suppressed for circulation: counts under 10 shown as <10, others rounded to 5"
        in cover
    )
    assert "Synthetic demo data" in cover
    internal_cover = " ".join(internal.pages[0].split())
    assert "INTERNAL: small numbers not suppressed" in internal_cover
    assert "Figures suppressed" not in internal_cover


def test_contents_lists_each_section_with_the_page_it_starts_on(suppressed: Pack):
    contents = suppressed.pages[1]

    assert "Contents" in contents
    for section in SECTIONS:
        listed = re.search(rf"^{re.escape(section)}\s+(\d+)$", contents, re.M)
        assert listed, f"the contents do not list {section!r}"
        page = suppressed.pages[int(listed[1]) - 1]
        assert re.search(rf"^{re.escape(section)}$", page, re.M), (
            f"{section!r} is listed on page {listed[1]} but does not start there"
        )


def test_headline_shows_the_stores_count_rounded_when_suppressed_and_exact_when_internal(
    store_url: str, quarter: Quarter, suppressed: Pack, internal: Pack
):
    exact = store_count(store_url, quarter)
    rounded = quarterly.suppress(exact)
    assert exact != rounded, "pick a demo quarter whose count is not a multiple of 5"

    shown = suppressed.page_with("Headline figures")
    assert has_number(shown, f"{rounded:,}")
    assert not has_number(shown, f"{exact:,}")
    assert has_number(internal.page_with("Headline figures"), f"{exact:,}")
    assert CHANGE_TEST_SENTENCE.split(";")[0] in " ".join(shown.split())


def test_gun_row_shows_under_10_when_suppressed_and_the_count_when_internal(
    store_url: str, quarter: Quarter, suppressed: Pack, internal: Pack
):
    guns = store_count(store_url, quarter, flag="gun")
    assert 0 < guns < 10, "the demo's gun-enabled count should be small"

    assert re.search(r"Gun-enabled\s+<10\b", suppressed.page_with("Headline figures"))
    assert re.search(rf"Gun-enabled\s+{guns}\s", internal.page_with("Headline figures"))


def test_pages_show_maps_and_charts_as_pictures_and_the_rag_in_words(suppressed: Pack):
    reader = PdfReader(io.BytesIO(suppressed.pdf))
    pictures = sum(len(page.images) for page in reader.pages)

    assert pictures >= 4  # ward map, hotspot map, monthly chart, weekday x hour heatmap
    themes = suppressed.page_with("The action plan by VRU theme")
    for rag in suppressed.report.themes["rag"]:
        assert rag in themes  # the word, not only the colour, so a greyscale copy reads
    sources = suppressed.page_with("Data quality and sources")
    assert "Office for National Statistics" in sources
    assert "police.uk" in sources
    assert "Synthetic demo data" in sources


def test_typed_text_is_printed_as_typed_not_as_markup(suppressed: Pack):
    due = suppressed.report.due_next.copy()
    due.loc[0, "plan_title"] = "<b>Alton</b> **estate**"
    due.loc[0, "description"] = '=HYPERLINK("http://x") {nb} <i>now</i>'
    report = replace(suppressed.report, due_next=due)

    pages = read_pages(
        pack_pdf(report, borough_name="Wandsworth", generated_on=GENERATED, marking=MARKING)
    )

    text_of_all = " ".join(" ".join(page.split()) for page in pages)
    assert "<b>Alton</b> **estate**" in text_of_all
    assert '=HYPERLINK("http://x") {nb} <i>now</i>' in text_of_all


def test_blank_marking_is_refused(suppressed: Pack):
    with pytest.raises(ValueError, match="marking is blank"):
        pack_pdf(suppressed.report, borough_name="Wandsworth", generated_on=GENERATED, marking=" ")


# --- the workbook --------------------------------------------------------------------------------


def test_workbook_has_the_sheets_and_the_reports_headline_numbers(
    store_url: str, quarter: Quarter, suppressed: Pack
):
    report = suppressed.report
    book = load_workbook(io.BytesIO(pack_workbook(report, marking=MARKING)))

    assert book.sheetnames == list(WORKBOOK_SHEETS)
    rows = list(book["Headline"].iter_rows(values_only=True))
    headings, body = rows[0], rows[1:]
    assert [row[0] for row in body] == report.headline["label"].tolist()
    labels = quarterly.period_labels(quarter)
    for column in quarterly.PERIOD_COLUMNS:
        index = next(i for i, h in enumerate(headings) if labels[column] in str(h))
        expected = [
            int(value) if str(value).isdigit() else value for value in report.headline[column]
        ]
        assert [row[index] for row in body] == expected, column
    this_quarter = next(i for i, h in enumerate(headings) if str(h).startswith("This quarter"))
    assert body[0][this_quarter] == quarterly.suppress(store_count(store_url, quarter))
    about = dict(book["About"].iter_rows(min_row=2, values_only=True))
    assert about["Marking"] == MARKING
    assert about["Small numbers"].startswith("Figures suppressed for circulation")


def test_workbook_guards_text_a_spreadsheet_would_run(suppressed: Pack):
    overdue = suppressed.report.overdue.copy()
    overdue.loc[0, "description"] = "=1+1"
    overdue.loc[0, "plan_title"] = "@SUM(A1)"
    report = replace(suppressed.report, overdue=overdue)

    sheet = load_workbook(io.BytesIO(pack_workbook(report)))["Overdue"]
    first = dict(zip([c.value for c in sheet[1]], [c.value for c in sheet[2]], strict=True))

    assert first["Action"] == "'=1+1"
    assert first["Plan"] == "'@SUM(A1)"
    assert sheet["C2"].data_type == "s"  # text, not a formula


def test_suppressed_workbook_hides_small_weekday_hour_counts(suppressed: Pack, internal: Pack):
    def cells(pack: Pack) -> list[object]:
        sheet = load_workbook(io.BytesIO(pack_workbook(pack.report)))["Weekday x hour"]
        return [v for row in sheet.iter_rows(min_row=2, min_col=2, values_only=True) for v in row]

    hidden, exact = cells(suppressed), cells(internal)
    assert "<10" in hidden
    assert all(isinstance(value, int) for value in exact)
    assert sum(exact) == int(internal.report.weekday_hour.to_numpy().sum())


# --- the command line ----------------------------------------------------------------------------


def test_cli_writes_the_pdf_and_the_workbook(seeded_db, tmp_path, capsys):
    out, book = tmp_path / "pack.pdf", tmp_path / "tables.xlsx"

    code = main(
        ["export", "quarterly-pack", "--quarter", "2025/26-Q2", str(out), "--workbook", str(book)]
    )

    assert code == 0
    pages = PdfReader(out).pages
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1
    assert printed.startswith(f"{out}: {len(pages)} pages, ")
    assert "2025/26 Q2, suppressed" in printed
    assert "2025/26 Q2" in pages[0].extract_text()
    assert load_workbook(book).sheetnames == list(WORKBOOK_SHEETS)


def test_cli_internal_pack_shows_exact_counts(seeded_db, tmp_path, capsys):
    out = tmp_path / "internal.pdf"

    assert main(["export", "quarterly-pack", "--internal", str(out)]) == 0

    printed = capsys.readouterr().out
    assert "internal (small numbers not suppressed)" in printed
    cover = " ".join(PdfReader(out).pages[0].extract_text().split())
    assert "INTERNAL: small numbers not suppressed" in cover


@pytest.mark.parametrize(
    ("quarter_text", "message"),
    [
        ("2025/27-Q2", r"second year must be the year after 2025.*covers .*2025/26 Q2"),
        ("Q5 of 2025", r"is not a financial quarter.*covers .*2025/26 Q2"),
        ("2019/20-Q1", r"does not cover the whole of 2019/20 Q1.*covers .*2025/26 Q2"),
    ],
)
def test_cli_refuses_a_bad_quarter_and_writes_nothing(
    seeded_db, tmp_path, capsys, quarter_text, message
):
    out, book = tmp_path / "pack.pdf", tmp_path / "tables.xlsx"

    code = main(
        ["export", "quarterly-pack", "--quarter", quarter_text, "--workbook", str(book), str(out)]
    )

    assert code == 2
    assert re.search(message, capsys.readouterr().err)
    assert [path.name for path in tmp_path.iterdir() if not path.name.startswith("demo.db")] == []


def test_cli_refuses_a_store_without_incidents(empty_db_url, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DATABASE_URL", empty_db_url)
    out = tmp_path / "pack.pdf"

    assert main(["export", "quarterly-pack", str(out)]) == 2

    assert "No incidents are loaded" in capsys.readouterr().err
    assert not out.exists()
