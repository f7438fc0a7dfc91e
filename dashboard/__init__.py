"""Community Safety Map: hotspot and asset maps for a London borough's Community Safety Service."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
