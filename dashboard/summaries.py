"""Tables behind the map: per-ward figures, the busiest cells, assets. Plain pandas."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from dashboard.geo import WGS84
from dashboard.store.queries import IncidentFilter
from dashboard.taxonomy import Taxonomy


@dataclass(frozen=True)
class WardDetail:
    """What the panel beside the map says about one ward."""

    code: str
    name: str
    cso_name: str | None
    population: int | None
    incident_count: int
    rate_per_1000: float | None
    share_of_borough: float
    top_categories: list[tuple[str, int]]
    knife_count: int
    domestic_abuse_count: int
    under_25_count: int


def ward_figures(
    incidents: pd.DataFrame, wards: gpd.GeoDataFrame, assignments: pd.DataFrame
) -> pd.DataFrame:
    """One row per ward with its CSO, incident count and rate, busiest first.

    Columns: ``ward_code``, ``ward``, ``cso``, ``incidents``, ``population``, ``rate_per_1000``
    (incidents per 1,000 residents; missing where the ward has no population).
    """
    counts = incidents.groupby("ward_code", observed=True).size()
    cso_by_ward = dict(zip(assignments["ward_code"], assignments["cso_name"], strict=True))
    table = pd.DataFrame(
        {
            "ward_code": wards["code"].to_numpy(),
            "ward": wards["name"].to_numpy(),
            "cso": [cso_by_ward.get(code, "No CSO assigned") for code in wards["code"]],
            "incidents": [int(counts.get(code, 0)) for code in wards["code"]],
            "population": wards["population"].to_numpy(),
        }
    )
    population = table["population"].astype("Float64")
    table["rate_per_1000"] = (table["incidents"] / population * 1000).round(1)
    return table.sort_values(["incidents", "ward"], ascending=[False, True], ignore_index=True)


def ward_detail(
    code: str,
    incidents: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    assignments: pd.DataFrame,
    category_labels: dict[str, str],
) -> WardDetail:
    """Figures for one ward under the current filters. Raises KeyError for an unknown ward code."""
    matches = wards[wards["code"] == code]
    if matches.empty:
        raise KeyError(f"no current ward has code {code}")
    ward = matches.iloc[0]
    in_ward = incidents[incidents["ward_code"] == code]
    cso = assignments.loc[assignments["ward_code"] == code, "cso_name"]
    population = None if pd.isna(ward["population"]) else int(ward["population"])
    top = in_ward["category"].value_counts().head(3)
    return WardDetail(
        code=code,
        name=str(ward["name"]),
        cso_name=str(cso.iloc[0]) if not cso.empty else None,
        population=population,
        incident_count=len(in_ward),
        rate_per_1000=round(len(in_ward) / population * 1000, 1) if population else None,
        share_of_borough=len(in_ward) / len(incidents) if len(incidents) else 0.0,
        top_categories=[
            (category_labels.get(str(key), str(key)), int(n)) for key, n in top.items() if n
        ],
        knife_count=int(in_ward["knife"].sum()),
        domestic_abuse_count=int(in_ward["domestic_abuse"].sum()),
        under_25_count=int(in_ward["under_25"].fillna(False).astype(bool).sum()),
    )


def top_cells_table(
    cells_bng: gpd.GeoDataFrame, wards: gpd.GeoDataFrame, limit: int = 20
) -> pd.DataFrame:
    """The busiest cells as a readable table: rank, ward, incidents, centre latitude/longitude."""
    top = cells_bng.head(limit)
    centres = top.geometry.centroid.to_crs(WGS84)
    names = dict(zip(wards["code"], wards["name"], strict=True))
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(top) + 1),
            "cell": top["cell_id"].to_numpy(),
            "ward": [names.get(code, "Outside the wards") for code in top["ward_code"]],
            "incidents": top["incident_count"].to_numpy(),
            "centre_latitude": centres.y.round(5).to_numpy(),
            "centre_longitude": centres.x.round(5).to_numpy(),
        }
    )


def knife_bin_table(bins: gpd.GeoDataFrame) -> pd.DataFrame:
    """Knife bins as the accessible list shows them."""
    return pd.DataFrame(
        {
            "name": bins["name"].to_numpy(),
            "address": bins["address"].to_numpy(),
            "what to do": bins["guidance"].fillna("").to_numpy(),
        }
    )


def youth_bus_table(stops: gpd.GeoDataFrame, schedule: pd.DataFrame) -> pd.DataFrame:
    """Youth Bus stops with their weekly schedule in one readable cell each."""
    slots = schedule.groupby("stop_id")["when"].agg("; ".join)
    activities = schedule.groupby("stop_id")["activity"].agg(
        lambda values: "; ".join(sorted({str(v) for v in values if pd.notna(v)}))
    )
    return pd.DataFrame(
        {
            "stop": stops["name"].to_numpy(),
            "address": stops["address"].to_numpy(),
            "schedule": [slots.get(i, "Not scheduled") for i in stops["asset_id"]],
            "activities": [activities.get(i, "") for i in stops["asset_id"]],
        }
    )


def describe_filter(selection: IncidentFilter, category_labels: dict[str, str]) -> str:
    """One line that says what the hotspot layer is showing."""
    parts = [f"{selection.start:%d %b %Y} to {selection.end:%d %b %Y}"]
    if selection.categories:
        parts.append(", ".join(category_labels.get(c, c) for c in selection.categories))
    else:
        parts.append("all categories")
    flags = [
        label
        for on, label in (
            (selection.knife_only, "knife-enabled"),
            (selection.domestic_abuse_only, "domestic abuse"),
            (selection.under_25_only, "victim under 25"),
        )
        if on
    ]
    if flags:
        parts.append(" and ".join(flags) + " only")
    if selection.ward_codes:
        parts.append(f"{len(selection.ward_codes)} ward(s)")
    return "; ".join(parts)


SOURCE_NOTES_MARKDOWN = """\
- **Police extract** (the demo mimics it): date and time, offence as recorded, victim age band,
  knife, gun and domestic-abuse flags, and a point.
- **police.uk** street-level data: month only (no day or time of day), no victim age, coarse crime
  types ("Violence and sexual offences" is not broken down), and every point moved to one of a
  fixed set of anonymised map locations. Analyses by time of day or age leave such incidents out
  and say so.
- Ward figures use the ward each incident's point falls in, derived when it is loaded.
"""

ATTRIBUTION_MARKDOWN = """\
- Ward and borough boundaries: Source: Office for National Statistics licensed under the
  [Open Government Licence v.3.0](https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/).
  Contains OS data © Crown copyright and database right 2022.
- police.uk crime data, where imported: Contains public sector information licensed under the
  Open Government Licence v3.0.
- Base map tiles, where switched on: © OpenStreetMap contributors, unless another provider is
  configured.
"""


def cso_coverage(assignments: pd.DataFrame, wards: gpd.GeoDataFrame) -> pd.DataFrame:
    """One row per CSO: their wards by name, and how many."""
    names = dict(zip(wards["code"], wards["name"], strict=True))
    rows = [
        {
            "cso": cso_name,
            "wards": ", ".join(sorted(names.get(code, code) for code in group["ward_code"])),
            "ward_count": len(group),
        }
        for cso_name, group in assignments.groupby("cso_name", sort=True)
    ]
    return pd.DataFrame(rows, columns=["cso", "wards", "ward_count"])


def counts_table(counts: dict[str, int]) -> pd.DataFrame:
    """Rows held per table, for the About page."""
    return pd.DataFrame({"table": list(counts), "rows": list(counts.values())})


def taxonomy_table(taxonomy: Taxonomy) -> pd.DataFrame:
    """Every source offence and the category it counts as."""
    rows = [
        {
            "source": source,
            "offence as recorded": offence,
            "category": taxonomy.label(found.category),
            "serious violence": "yes"
            if taxonomy.categories[found.category].serious_violence
            else "no",
            "flags": ", ".join(f for f, on in (("knife", found.knife), ("gun", found.gun)) if on),
        }
        for source, mapping in taxonomy.sources.items()
        for offence, found in mapping.items()
    ]
    return pd.DataFrame(rows)
