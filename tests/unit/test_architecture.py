"""Only the entry script, the pages and ``dashboard/ui/`` may import Streamlit (STYLE.md)."""

import ast
import re
from pathlib import Path

from dashboard import PROJECT_ROOT

UI_PACKAGE = Path("dashboard/ui")


def _imports_streamlit(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        if any(name.split(".")[0] in {"streamlit", "streamlit_folium"} for name in names):
            return True
    return False


def test_only_ui_imports_streamlit_inside_the_package():
    offenders = [
        path.relative_to(PROJECT_ROOT)
        for path in sorted((PROJECT_ROOT / "dashboard").rglob("*.py"))
        if UI_PACKAGE not in path.relative_to(PROJECT_ROOT).parents and _imports_streamlit(path)
    ]

    assert offenders == []
    assert _imports_streamlit(PROJECT_ROOT / UI_PACKAGE / "__init__.py")


def test_pages_hold_no_sql_and_no_folium_building():
    for page in sorted((PROJECT_ROOT / "pages").glob("*.py")):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])select\(", text), (
            f"{page.name} runs a query; move it to dashboard/"
        )
        assert "import folium" not in text, f"{page.name} builds a map; use dashboard.maps"
