"""Turn source rows into store-ready incidents: classify, flag, project and place in a ward."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from dashboard.geo import assign_ward_codes, wgs84_to_bng
from dashboard.taxonomy import Taxonomy

INCIDENT_COLUMNS = (
    "source",
    "source_ref",
    "occurred_on",
    "occurred_at",
    "offence",
    "category",
    "knife",
    "gun",
    "domestic_abuse",
    "victim_age_band",
    "under_25",
    "longitude",
    "latitude",
    "x_bng",
    "y_bng",
    "ward_code",
    "location_precision",
)


def prepare_incidents(
    rows: pd.DataFrame,
    source: str,
    taxonomy: Taxonomy,
    wards_bng: gpd.GeoDataFrame,
    location_precision: str,
) -> tuple[pd.DataFrame, int]:
    """Classify ``rows`` through the taxonomy and derive BNG coordinates and wards.

    Parameters
    ----------
    rows
        ``source_ref``, ``occurred_at`` (datetime, may be NaT), ``occurred_on`` (date),
        ``offence``, ``knife``, ``gun``, ``domestic_abuse`` (bool), ``victim_age_band`` (str or
        None), ``longitude``, ``latitude`` (WGS84 degrees).
    source
        The taxonomy's source key, e.g. ``police_extract``.
    taxonomy
        Maps offences to categories and flags; offences it does not know are dropped.
    wards_bng
        Current wards in EPSG:27700 with a ``code`` column.
    location_precision
        A ``LocationPrecision`` value recorded on every incident.

    Returns
    -------
    The incidents with the columns of ``INCIDENT_COLUMNS``, and how many rows were outside the
    taxonomy (not violence the borough counts) and so left out.
    """
    classifications = [taxonomy.classify(source, offence) for offence in rows["offence"]]
    known = np.array([found is not None for found in classifications], dtype=bool)
    kept = rows.loc[known].reset_index(drop=True)
    kept_classes = [found for found in classifications if found is not None]
    x_bng, y_bng = wgs84_to_bng(kept["longitude"].to_numpy(), kept["latitude"].to_numpy())
    prepared = pd.DataFrame(
        {
            "source": source,
            "source_ref": kept["source_ref"].astype(str),
            "occurred_on": kept["occurred_on"],
            "occurred_at": kept["occurred_at"],
            "offence": kept["offence"],
            "category": [found.category for found in kept_classes],
            # the source's flag, or one the offence implies (a bladed article is knife-enabled)
            "knife": kept["knife"].to_numpy(dtype=bool)
            | np.array([found.knife for found in kept_classes], dtype=bool),
            "gun": kept["gun"].to_numpy(dtype=bool)
            | np.array([found.gun for found in kept_classes], dtype=bool),
            "domestic_abuse": kept["domestic_abuse"].to_numpy(dtype=bool),
            "victim_age_band": kept["victim_age_band"],
            "under_25": [taxonomy.is_under_25(band) for band in kept["victim_age_band"]],
            "longitude": kept["longitude"].to_numpy(dtype=float),
            "latitude": kept["latitude"].to_numpy(dtype=float),
            "x_bng": x_bng,
            "y_bng": y_bng,
            "ward_code": assign_ward_codes(x_bng, y_bng, wards_bng),
            "location_precision": location_precision,
        },
        columns=list(INCIDENT_COLUMNS),
    )
    return prepared, int((~known).sum())
