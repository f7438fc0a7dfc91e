"""The serious-violence taxonomy, read from ``taxonomy.toml``: configuration, not code branches."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from dashboard.errors import ConfigurationError

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent / "taxonomy.toml"


@dataclass(frozen=True)
class Category:
    """One of the borough's categories of violence."""

    key: str
    label: str
    serious_violence: bool


@dataclass(frozen=True)
class Classification:
    """What an offence as recorded by a source means in the borough's terms."""

    category: str
    knife: bool = False
    gun: bool = False


@dataclass(frozen=True)
class Taxonomy:
    """Categories, per-source offence mappings and the under-25 age bands."""

    categories: dict[str, Category]
    sources: dict[str, dict[str, Classification]]
    under_25_age_bands: frozenset[str]

    def classify(self, source: str, offence: str) -> Classification | None:
        """Classify ``offence`` as ``source`` records it; None when it is outside the taxonomy."""
        if source not in self.sources:
            raise ConfigurationError(
                f"The taxonomy has no mapping for source {source!r}; "
                f"add a [sources.{source}] table to taxonomy.toml"
            )
        return self.sources[source].get(offence.strip())

    def label(self, category: str) -> str:
        """Human label of a category key (the key itself if unknown)."""
        found = self.categories.get(category)
        return found.label if found else category

    def is_under_25(self, age_band: str | None) -> bool | None:
        """True/False for a recorded age band, None when the source did not record age."""
        if age_band is None or age_band == "":
            return None
        return age_band in self.under_25_age_bands


def load_taxonomy(path: Path = DEFAULT_TAXONOMY_PATH) -> Taxonomy:
    """Read and check a taxonomy file.

    Raises ConfigurationError when a mapping names a category that is not defined.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"Cannot read the taxonomy {path}: {error}") from error
    categories = {
        key: Category(key, spec["label"], bool(spec["serious_violence"]))
        for key, spec in raw.get("categories", {}).items()
    }
    sources: dict[str, dict[str, Classification]] = {}
    for source, mapping in raw.get("sources", {}).items():
        sources[source] = {}
        for offence, spec in mapping.items():
            if spec["category"] not in categories:
                raise ConfigurationError(
                    f"{path}: [sources.{source}] maps {offence!r} to unknown category "
                    f"{spec['category']!r}; define it under [categories]"
                )
            sources[source][offence] = Classification(
                spec["category"], bool(spec.get("knife", False)), bool(spec.get("gun", False))
            )
    bands = frozenset(raw.get("flags", {}).get("under_25_age_bands", []))
    return Taxonomy(categories, sources, bands)
