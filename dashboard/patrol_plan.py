"""One patrol plan from a CSO's question: whose wards, which day and hours, and the take-aways.

``PatrolRequest`` is the whole question, and round-trips through a link's query parameters, so
a link reopens the same plan and the CLI and the page build exactly the same one. ``build`` runs
it: the significant hotspots for that window (``hotspot_analysis``), the stops, the route and
what is near it (``patrol``). Pure: the caller reads the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time

import geopandas as gpd
import pandas as pd

from dashboard import hotspot_analysis, patrol
from dashboard.errors import InvalidInput
from dashboard.patrol import HOT_CLASSES, WEEKDAY_NAMES, Route, Shift

DEFAULT_STOP_COUNT = 6
MAX_DWELL_MIN = 120.0
MAX_REVISIT_MIN = 24 * 60.0
MAX_LINK_CELLS = 50  # a link with more removed or added cells than this is not from the app
WEEKDAY_CODES = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_CELL_ID = re.compile(r"^\d{1,7}_\d{1,7}$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class PatrolRequest:
    """Everything a patrol plan depends on (hashable: it keys the page's caches).

    ``on_date``, when given, fixes the weekday and lets times, one-off Youth Bus visits and the
    GPX carry a date; otherwise the plan is for every week's ``weekdays``. ``removed`` and
    ``added`` are the CSO's changes to the proposed stops, as cell ids.
    """

    ward_codes: tuple[str, ...]
    weekdays: tuple[int, ...]
    starts_at: time
    ends_at: time
    cso_id: int | None = None
    on_date: date | None = None
    look_back_months: int = 12
    stop_count: int = DEFAULT_STOP_COUNT
    min_class: str = patrol.DEFAULT_MIN_CLASS
    dwell_min: float = patrol.DEFAULT_DWELL_MIN
    revisit_every_min: float = patrol.DEFAULT_REVISIT_EVERY_MIN
    removed: tuple[str, ...] = ()
    added: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.on_date is not None:
            object.__setattr__(self, "weekdays", (self.on_date.weekday(),))
        object.__setattr__(self, "ward_codes", tuple(sorted(set(self.ward_codes))))
        if not self.ward_codes:
            raise InvalidInput("Pick at least one ward (or a CSO, whose wards are then used)")
        if self.min_class not in HOT_CLASSES:
            raise InvalidInput(f"The weakest class must be one of {', '.join(HOT_CLASSES)}")
        if not 1 <= self.stop_count <= patrol.MAX_ROUTE_STOPS:
            raise InvalidInput(
                f"Stops must be 1 to {patrol.MAX_ROUTE_STOPS}, got {self.stop_count}"
            )
        for cells in (self.removed, self.added):
            for cell_id in cells:
                if not _CELL_ID.match(str(cell_id)):
                    raise InvalidInput(f"{cell_id!r} is not a grid cell id (easting_northing)")
        self.shift  # noqa: B018 (Shift checks the days, times and look-back, with its messages)
        if not 0 < self.dwell_min <= MAX_DWELL_MIN:
            raise InvalidInput(
                f"Minutes at each stop must be above 0 and at most {MAX_DWELL_MIN:g} "
                f"(10-15 is what the evidence supports), got {self.dwell_min:g}"
            )
        if not self.dwell_min <= self.revisit_every_min <= MAX_REVISIT_MIN:
            raise InvalidInput(
                f"The revisit interval must be from the dwell ({self.dwell_min:g} min) to "
                f"{MAX_REVISIT_MIN:g} minutes, got {self.revisit_every_min:g}"
            )

    @property
    def shift(self) -> Shift:
        """The request's days and hours as a weekly shift."""
        return Shift(self.weekdays, self.starts_at, self.ends_at, self.look_back_months)

    @property
    def when(self) -> hotspot_analysis.When:
        """The request's days and hours as a hotspot filter."""
        return hotspot_analysis.When(self.weekdays, self.starts_at, self.ends_at)

    @property
    def label(self) -> str:
        """E.g. "Friday 18:00-22:00" or "Fri 04 Dec 2026 18:00-22:00" (with an en dash)."""
        if self.on_date is None:
            return self.shift.label
        return f"{self.on_date:%a %d %b %Y} " + self.shift.label.split(" ", 1)[1]

    def without_stop(self, cell_id: str) -> PatrolRequest:
        """The same request with one stop taken out (a proposed or an added one)."""
        if cell_id in self.added:
            return replace(self, added=tuple(c for c in self.added if c != cell_id))
        if cell_id in self.removed:
            return self
        return replace(self, removed=(*self.removed, cell_id))

    def with_stop(self, cell_id: str) -> PatrolRequest:
        """The same request with one more stop (or a removed one put back)."""
        if cell_id in self.removed:
            return replace(self, removed=tuple(c for c in self.removed if c != cell_id))
        if cell_id in self.added:
            return self
        return replace(self, added=(*self.added, cell_id))

    def query_params(self) -> dict[str, str]:
        """The request as a link's query parameters (``from_query_params`` reads them back)."""
        params = {
            "wards": ",".join(self.ward_codes),
            "from": f"{self.starts_at:%H:%M}",
            "to": f"{self.ends_at:%H:%M}",
            "months": str(self.look_back_months),
            "stops": str(self.stop_count),
            "min": self.min_class.split()[-1].rstrip("%"),
            "dwell": f"{self.dwell_min:g}",
            "every": f"{self.revisit_every_min:g}",
        }
        if self.on_date is not None:
            params["date"] = self.on_date.isoformat()
        else:
            params["days"] = ",".join(WEEKDAY_CODES[day] for day in self.weekdays)
        if self.cso_id is not None:
            params["cso"] = str(self.cso_id)
        if self.removed:
            params["drop"] = ",".join(self.removed)
        if self.added:
            params["add"] = ",".join(self.added)
        return params


def parse_weekdays(text: str) -> tuple[int, ...]:
    """Weekday numbers (0 = Monday) from "FRI", "fri,sat", "Friday" or "4"."""
    days = []
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        code = part[:3].upper()
        if code in WEEKDAY_CODES and (len(part) == 3 or part.title() in WEEKDAY_NAMES):
            days.append(WEEKDAY_CODES.index(code))
        elif part.isdigit() and 0 <= int(part) <= 6:
            days.append(int(part))
        else:
            raise InvalidInput(f"{part!r} is not a weekday; use MON, TUE, ... SUN")
    if not days:
        raise InvalidInput("Give at least one weekday, e.g. FRI")
    return tuple(sorted(set(days)))


def parse_clock(text: str, name: str) -> time:
    """The time in "18:00" or "8:30"; InvalidInput naming ``name`` otherwise."""
    found = _CLOCK.match(text.strip())
    if not found:
        raise InvalidInput(f"{name} must be a time like 18:00, got {text!r}")
    return time(int(found[1]), int(found[2]))


def from_query_params(params: Mapping[str, str], known_wards: set[str]) -> PatrolRequest:
    """Read a request back from a link; InvalidInput saying what is wrong with it."""

    def number(key: str, default: float, kind: type) -> float:
        text = params.get(key)
        try:
            return kind(text) if text not in (None, "") else default
        except ValueError:
            raise InvalidInput(f"The link's {key}={text!r} is not a number") from None

    wards = tuple(filter(None, str(params.get("wards", "")).split(",")))
    unknown = sorted(set(wards) - known_wards)
    if unknown:
        raise InvalidInput(f"The link names wards this borough does not have: {', '.join(unknown)}")
    on_date = None
    if params.get("date"):
        try:
            on_date = date.fromisoformat(str(params["date"]))
        except ValueError:
            raise InvalidInput(f"The link's date {params['date']!r} is not a date") from None
    cells = {
        key: tuple(filter(None, str(params.get(key, "")).split(",")))[:MAX_LINK_CELLS]
        for key in ("drop", "add")
    }
    min_class = f"hot {params.get('min', '95')}%"
    return PatrolRequest(
        ward_codes=wards,
        weekdays=parse_weekdays(str(params.get("days", ""))) if on_date is None else (),
        starts_at=parse_clock(str(params.get("from", "")), "The start time"),
        ends_at=parse_clock(str(params.get("to", "")), "The end time"),
        cso_id=int(number("cso", 0, int)) or None,
        on_date=on_date,
        look_back_months=int(number("months", 12, int)),
        stop_count=int(number("stops", DEFAULT_STOP_COUNT, int)),
        min_class=min_class,
        dwell_min=number("dwell", patrol.DEFAULT_DWELL_MIN, float),
        revisit_every_min=number("every", patrol.DEFAULT_REVISIT_EVERY_MIN, float),
        removed=cells["drop"],
        added=cells["add"],
    )


def wards_of_cso(assignments: pd.DataFrame, cso_id: int) -> tuple[str, ...]:
    """The wards a CSO covers today (``queries.current_cso_assignments``)."""
    return tuple(sorted(assignments.loc[assignments["cso_id"] == cso_id, "ward_code"]))


def find_cso(csos: pd.DataFrame, name_or_id: str) -> pd.Series:
    """The CSO row (``queries.csos``) with this id or display name (any case).

    Raises InvalidInput listing the CSOs when none, or more than one, matches.
    """
    text = name_or_id.strip()
    if text.isdigit():
        found = csos[csos["cso_id"] == int(text)]
    else:
        found = csos[csos["cso_name"].str.casefold() == text.casefold()]
    if len(found) != 1:
        names = ", ".join(f"{row.cso_name} ({row.cso_id})" for row in csos.itertuples())
        problem = "No CSO" if found.empty else "More than one CSO"
        raise InvalidInput(f"{problem} matches {name_or_id!r}; the CSOs are: {names}")
    return found.iloc[0]


@dataclass(frozen=True)
class PatrolPlan:
    """A built plan: the hotspots it rests on, the route and what is near it."""

    request: PatrolRequest
    analysis: hotspot_analysis.HotspotAnalysis
    when_note: str
    # the wards' cells with incidents in the window, hot ones first: what a CSO may add as a stop
    candidates: gpd.GeoDataFrame
    route: Route
    assets: pd.DataFrame
    actions: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Everything the CSO should read before setting off: shortfalls, then the route's."""
        return (*self.notes, *self.route.warnings)

    @property
    def notes_for_brief(self) -> tuple[str, ...]:
        """The plan's own notes and what the time filter left out, for the printed brief."""
        return (*self.notes, *filter(None, [self.when_note]))


def build(
    request: PatrolRequest,
    incidents: pd.DataFrame,
    grid_bng: gpd.GeoDataFrame,
    *,
    bins_wgs84: gpd.GeoDataFrame | None = None,
    bus_stops_wgs84: gpd.GeoDataFrame | None = None,
    schedule: pd.DataFrame | None = None,
    actions: pd.DataFrame | None = None,
) -> PatrolPlan:
    """Plan the patrol ``request`` asks for from ``incidents`` of its look-back period.

    Gi* runs on the incidents inside the shift's days and hours across the whole borough grid
    (``grid_bng``), then the strongest hot cells inside the request's wards become stops,
    spread so no two touch (``patrol.select_stops``), less the CSO's removals, plus their
    additions; ``patrol.plan_route`` orders them. Incidents without a time of day are left out
    and ``when_note`` says how many.
    """
    selection = hotspot_analysis.select_when(incidents, request.when)
    analysis = hotspot_analysis.analyse(selection.incidents, grid_bng)
    cells = analysis.cells
    in_wards = cells[cells["ward_code"].isin(request.ward_codes)]
    candidates = hotspot_analysis.sort_by_strength(in_wards[in_wards["incident_count"] > 0])
    stops = patrol.select_stops(
        cells, request.stop_count, request.min_class, ward_codes=request.ward_codes
    )
    notes = [stops.attrs["note"]] if stops.attrs.get("note") else []
    stops = stops[~stops["cell_id"].isin(request.removed)]
    route = patrol.plan_route(
        stops,
        dwell_min=request.dwell_min,
        revisit_every_min=request.revisit_every_min,
        shift=request.shift,
    )
    additions = [cell for cell in dict.fromkeys(request.added) if cell not in route.cell_ids]
    known = cells[cells["cell_id"].isin(additions)]
    missing = sorted(set(additions) - set(known["cell_id"]))
    if missing:
        notes.append(f"Cells {', '.join(missing)} are not on the borough's grid and were skipped.")
    if len(known):
        ordered = known.set_index("cell_id").loc[[c for c in additions if c not in missing]]
        route = patrol.add_stop(route, ordered.reset_index())
    if not request.ward_codes or route.stops.empty:
        near_assets = pd.DataFrame({column: [] for column in patrol.ASSET_COLUMNS})
    else:
        near_assets = patrol.assets_in_window(
            bins_wgs84, bus_stops_wgs84, schedule, request.shift, route, on_date=request.on_date
        )
    near_actions = (
        patrol.actions_near_route(actions, route)
        if actions is not None and not actions.empty
        else pd.DataFrame({column: [] for column in patrol.NEAR_ACTION_COLUMNS})
    )
    return PatrolPlan(
        request=request,
        analysis=analysis,
        when_note=selection.note,
        candidates=candidates,
        route=route,
        assets=near_assets,
        actions=near_actions,
        notes=tuple(notes),
    )
