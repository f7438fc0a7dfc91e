"""The police.uk API fetch, against a local server that replays real police.uk API answers."""

import json
import socket
import threading
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon
from sqlalchemy import func, select

from dashboard.access import Role
from dashboard.errors import ImportRefused, InvalidInput, NotAllowed
from dashboard.geo import BNG, wgs84_to_bng
from dashboard.importers.police_uk import commit_police_uk
from dashboard.importers.police_uk_api import (
    BTP_SKIPPED,
    MAX_SPLIT_DEPTH,
    MAX_TRANSIENT_RETRIES,
    MONTHS_CACHED,
    RateLimiter,
    fetch_police_uk,
    months_between,
)
from dashboard.store.models import DataImport, Incident
from dashboard.store.queries import current_wards
from dashboard.store.session import make_engine, session_scope
from tests.conftest import REALDATA, WANDSWORTH

API_JSON = REALDATA / "crime" / "police_uk_api_json"
MONTHS = ["2018-04", "2018-05", "2018-06"]
VIOLENCE = {
    "violent-crime": "violence_and_sexual",
    "robbery": "robbery",
    "possession-of-weapons": "weapons_possession",
}
ANALYST = Role.ANALYST
# the proxy settings of the environment must not catch requests to 127.0.0.1
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
needs_realdata = pytest.mark.skipif(
    not API_JSON.exists(), reason=f"the real police.uk API answers ({API_JSON}) are absent"
)


def month_records(month):
    """The borough's crimes in a month: the union of the wards' answers, each id once."""
    records = {}
    for path in sorted((API_JSON / month).glob("*.json")):
        for record in json.loads(path.read_text()):
            records.setdefault(record["id"], record)
    return list(records.values())


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class Api:
    """A police.uk stand-in on 127.0.0.1: ``answer(month, polygon)`` gives (status, records)."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []  # (month, polygon in lng/lat, status)
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                month = form["date"][0]
                pairs = [point.split(",") for point in form["poly"][0].split(":")]
                polygon = Polygon([(float(lng), float(lat)) for lat, lng in pairs])
                status, records = api.answer(month, polygon)
                api.requests.append((month, polygon, status))
                body = json.dumps(records).encode() if status == 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def api():
    started = []

    def start(answer):
        started.append(Api(answer))
        return started[-1]

    yield start
    for server in started:
        server.close()


def replay(month, polygon):
    return 200, month_records(month)


@pytest.fixture
def engine(demo_db_url):
    engine = make_engine(demo_db_url)
    yield engine
    engine.dispose()


def store_counts(engine):
    with session_scope(engine) as session:
        return (
            session.scalar(select(func.count(Incident.id))),
            session.scalar(select(func.count(DataImport.id))),
        )


def fetch(engine, server, months, cache_dir, fake=None, **options):
    fake = fake or FakeTime()
    return fetch_police_uk(
        engine,
        borough_code=WANDSWORTH,
        months=months,
        role=ANALYST,
        base_url=server.base_url,
        cache_dir=cache_dir,
        opener=NO_PROXY,
        clock=fake.clock,
        sleep=fake.sleep,
        **options,
    )


def cached_ids(cache_dir, month):
    return [record["id"] for record in json.loads((cache_dir / f"{month}.json").read_text())]


# --- three real months ----------------------------------------------------------------------


@needs_realdata
def test_three_real_months_give_the_numbers_of_the_json_files(engine, api, tmp_path):
    records = [record for month in MONTHS for record in month_records(month)]
    force = [record for record in records if record["location_type"] == "Force"]
    violence = [record for record in force if record["category"] in VIOLENCE]
    # The CSV importer keeps one record per Crime ID (persistent_id), the latest (by month, then
    # by order in the file; the fetch orders a month by API id), and then keeps the violence the
    # taxonomy counts. police.uk gives some crimes several API ids, and 43 violence Crime IDs
    # have a later record of another category (reclassified): the latest record decides.
    latest = {
        record["persistent_id"]: record["category"]
        for record in sorted(force, key=lambda record: (record["month"], record["id"]))
        if record["persistent_id"]
    }
    crime_ids = {crime_id for crime_id, category in latest.items() if category in VIOLENCE}
    expected_categories = Counter(
        VIOLENCE[category] for category in latest.values() if category in VIOLENCE
    )
    assert (len(records), len(force), len(violence)) == (7820, 7663, 2079)
    assert len({record["persistent_id"] for record in violence}) == 1875
    assert len(crime_ids) == 1832
    assert expected_categories == {
        "violence_and_sexual": 1632,
        "robbery": 163,
        "weapons_possession": 37,
    }
    # every 2018 point lies within the default 100 m margin of today's (2022) wards
    wards_bng = current_wards(engine, WANDSWORTH, ANALYST).to_crs(BNG)
    borough_bng = shapely.union_all(wards_bng.geometry.to_numpy()).buffer(100)
    x_bng, y_bng = wgs84_to_bng(
        np.array([float(r["location"]["longitude"]) for r in violence]),
        np.array([float(r["location"]["latitude"]) for r in violence]),
    )
    assert shapely.contains_xy(borough_bng, x_bng, y_bng).all()
    server = api(replay)
    before = store_counts(engine)
    progress = []

    prepared = fetch(engine, server, MONTHS, tmp_path / "cache", progress=progress.append)

    report = prepared.report
    assert report.kind == "police-uk-api"
    assert report.file_names == MONTHS
    assert report.rows_read == len(force) == 7663
    assert report.rows_rejected == 0
    assert report.skipped[BTP_SKIPPED] == len(records) - len(force) == 157
    assert "outside the borough (margin 100 m)" not in report.skipped
    assert MONTHS_CACHED not in report.skipped
    assert report.rows_accepted == len(crime_ids) == 1832
    assert Counter(prepared.payload["category"]) == expected_categories
    assert set(prepared.payload["source_ref"]) == set(crime_ids)
    assert progress == [1, 2, 3]
    assert [(month, status) for month, _, status in server.requests] == [
        (month, 200) for month in MONTHS
    ]
    # the polygon sent covers every ward, and stays a modest request
    area_wgs84 = server.requests[0][1]
    wards_wgs84 = current_wards(engine, WANDSWORTH, ANALYST).geometry
    assert all(area_wgs84.covers(ward) for ward in wards_wgs84)
    assert len(area_wgs84.exterior.coords) <= 251
    assert store_counts(engine) == before  # fetching only prepares


@needs_realdata
def test_a_fetched_import_commits_and_a_second_fetch_finds_it_in_the_store(engine, api, tmp_path):
    server = api(replay)
    prepared = fetch(engine, server, MONTHS, tmp_path / "cache")
    incidents_before, imports_before = store_counts(engine)

    import_id = commit_police_uk(engine, prepared, "analyst@example.org", ANALYST)

    assert store_counts(engine) == (incidents_before + 1832, imports_before + 1)
    with session_scope(engine) as session:
        assert session.get(DataImport, import_id).kind == "police-uk-api"
    again = fetch(engine, server, MONTHS, tmp_path / "cache")
    assert again.report.rows_accepted == 0
    assert again.report.skipped["already in the store"] == 1832
    assert again.report.skipped[MONTHS_CACHED] == 3
    assert again.report.already_imported_as == import_id
    assert len(server.requests) == 3  # the second fetch asked police.uk nothing


# --- the 10,000-crime cap -------------------------------------------------------------------


def inside(records, polygon):
    longitude = np.array([float(r["location"]["longitude"]) for r in records])
    latitude = np.array([float(r["location"]["latitude"]) for r in records])
    hits = shapely.intersects_xy(polygon, longitude, latitude)
    return [record for record, hit in zip(records, hits, strict=True) if hit]


@needs_realdata
def test_an_area_over_the_cap_is_split_and_every_record_comes_back_once(engine, api, tmp_path):
    april = month_records("2018-04")

    def capped(month, polygon):  # the borough is ~0.13 degrees wide: 2 or 3 cuts are needed
        minx, _, maxx, _ = polygon.bounds
        return (503, []) if maxx - minx > 0.05 else (200, inside(april, polygon))

    server = api(capped)

    prepared = fetch(engine, server, ["2018-04"], tmp_path / "cache")

    statuses = Counter(status for _, _, status in server.requests)
    assert statuses[503] >= 3
    assert statuses[200] >= 4
    expected = sorted(record["id"] for record in inside(april, server.requests[0][1]))
    assert len(expected) == 2480  # the whole borough's month
    ids = cached_ids(tmp_path / "cache", "2018-04")
    assert sorted(ids) == expected
    assert len(ids) == len(set(ids))
    force = [record for record in april if record["location_type"] == "Force"]
    assert prepared.report.rows_read == len(force)


def test_an_area_refused_at_every_split_depth_is_refused_with_the_status(engine, api, tmp_path):
    server = api(lambda month, polygon: (503, []))

    with pytest.raises(ImportRefused, match=r"HTTP 503 for 2018-04 .* try again later"):
        fetch(engine, server, ["2018-04"], tmp_path / "cache")

    # depth first: the first part still refused at the deepest level stops the fetch
    assert len(server.requests) == MAX_SPLIT_DEPTH + 1
    assert not (tmp_path / "cache" / "2018-04.json").exists()


# --- resuming -------------------------------------------------------------------------------


@needs_realdata
def test_an_interrupted_fetch_resumes_from_the_months_it_had(engine, api, tmp_path):
    cache = tmp_path / "cache"
    broken_june = api(
        lambda month, polygon: (500, []) if month == "2018-06" else replay(month, polygon)
    )

    with pytest.raises(ImportRefused, match=r"police.uk failed for 2018-06: HTTP 500"):
        fetch(engine, broken_june, MONTHS, cache)

    assert sorted(path.name for path in cache.iterdir()) == ["2018-04.json", "2018-05.json"]
    only_june = api(
        lambda month, polygon: replay(month, polygon) if month == "2018-06" else (500, [])
    )

    prepared = fetch(engine, only_june, MONTHS, cache)

    assert [month for month, _, _ in only_june.requests] == ["2018-06"]
    assert prepared.report.skipped[MONTHS_CACHED] == 2
    assert prepared.report.rows_read == 7663
    assert prepared.report.rows_accepted == 1832
    assert any("2 month(s) were read from" in warning for warning in prepared.report.warnings)


# --- rate limit and retries -----------------------------------------------------------------


def test_thirty_requests_at_fifteen_a_second_take_at_least_1_9_seconds(engine, api, tmp_path):
    server = api(lambda month, polygon: (200, []))
    fake = FakeTime()
    months = months_between("2016-01", "2018-06")

    prepared = fetch(engine, server, months, tmp_path / "cache", fake=fake)

    assert len(months) == len(server.requests) == 30
    assert fake.now == pytest.approx(29 / 15)
    assert fake.now >= 1.9
    assert prepared.report.rows_read == 0
    assert prepared.report.file_names == months


def test_the_rate_limiter_waits_only_as_long_as_needed():
    fake = FakeTime()
    limiter = RateLimiter(15.0, fake.clock, fake.sleep)
    limiter.wait()
    fake.now += 1.0  # a slow request: the next may go at once
    limiter.wait()
    limiter.wait()

    assert fake.sleeps == [pytest.approx(1 / 15)]


def test_too_many_requests_backs_off_and_retries(engine, api, tmp_path):
    answers = iter([(429, []), (429, []), (200, [])])
    server = api(lambda month, polygon: next(answers))
    fake = FakeTime()

    prepared = fetch(engine, server, ["2018-04"], tmp_path / "cache", fake=fake)

    assert [status for _, _, status in server.requests] == [429, 429, 200]
    assert [s for s in fake.sleeps if s > 1] == [2.0, 4.0]  # besides the rate limit's spacing
    assert prepared.report.rows_read == 0


def test_a_server_error_is_retried_a_few_times_then_refused(engine, api, tmp_path):
    server = api(lambda month, polygon: (502, []))
    before = store_counts(engine)

    with pytest.raises(ImportRefused, match=r"for 2018-05: HTTP 502 .*try again later"):
        fetch(engine, server, ["2018-05"], tmp_path / "cache")

    assert len(server.requests) == MAX_TRANSIENT_RETRIES + 1
    assert store_counts(engine) == before


# --- refused before any request -------------------------------------------------------------


def test_nothing_listening_is_refused_with_a_clear_message(engine, tmp_path):
    with socket.socket() as probe:  # a free port, closed again: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    before = store_counts(engine)

    with pytest.raises(ImportRefused, match=r"police.uk could not be reached: .*refused"):
        fetch_police_uk(
            engine,
            borough_code=WANDSWORTH,
            months=["2018-04"],
            role=ANALYST,
            base_url=f"http://127.0.0.1:{port}/api",
            cache_dir=tmp_path / "cache",
            opener=NO_PROXY,
            sleep=FakeTime().sleep,
        )

    assert store_counts(engine) == before
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2018-06", "2018-04", "runs backwards"),
        ("2018-13", "2018-14", "'2018-13' is not a month; write it as YYYY-MM"),
        ("2018-4", "2018-06", "'2018-4' is not a month"),
        ("2018-01", "June", "'June' is not a month"),
        ("2009-01", "2010-12", "before police.uk began publishing"),
    ],
)
def test_a_bad_month_range_is_refused(start, end, message):
    with pytest.raises(InvalidInput, match=message):
        months_between(start, end)


def test_months_between_spans_year_ends():
    assert months_between("2023-11", "2024-02") == ["2023-11", "2023-12", "2024-01", "2024-02"]
    assert months_between("2024-05", "2024-05") == ["2024-05"]


def test_a_role_without_loading_data_may_not_fetch(engine, tmp_path):
    with pytest.raises(NotAllowed, match="does not allow load data"):
        fetch_police_uk(
            engine,
            borough_code=WANDSWORTH,
            months=["2018-04"],
            role=Role.CSO,
            base_url="http://127.0.0.1:9/api",
            cache_dir=tmp_path / "cache",
        )
