from pathlib import Path

from dashboard.static_assets import drawing_available, prepare_static


def fake_leaflet_draw(node_modules: Path) -> Path:
    dist = node_modules / "leaflet-draw" / "dist"
    (dist / "images").mkdir(parents=True)
    (dist / "leaflet.draw.js").write_text("/* Leaflet.draw */", encoding="utf-8")
    (dist / "leaflet.draw.css").write_text(".leaflet-draw {}", encoding="utf-8")
    (dist / "leaflet.draw-src.js").write_text("/* not served */", encoding="utf-8")
    for image in ("spritesheet.png", "spritesheet-2x.png", "spritesheet.svg"):
        (dist / "images" / image).write_bytes(b"image")
    return dist


def test_leaflet_draw_and_its_images_are_copied_beside_leaflet(tmp_path: Path):
    fake_leaflet_draw(tmp_path / "node_modules")
    static = tmp_path / "static"

    written = prepare_static(static, node_modules=tmp_path / "node_modules")

    draw_dir = static / "vendor" / "leaflet-draw"
    assert {
        path.relative_to(draw_dir).as_posix() for path in written if draw_dir in path.parents
    } == {
        "leaflet.draw.js",
        "leaflet.draw.css",
        "images/spritesheet.png",
        "images/spritesheet-2x.png",
        "images/spritesheet.svg",
    }
    assert (static / "vendor" / "leaflet" / "leaflet.js").is_file()
    assert drawing_available(static)


def test_without_npm_packages_leaflet_is_still_copied_and_drawing_is_unavailable(
    tmp_path: Path, caplog
):
    static = tmp_path / "static"

    written = prepare_static(static, node_modules=tmp_path / "no_node_modules")

    assert (static / "vendor" / "leaflet" / "leaflet.js") in written
    assert not (static / "vendor" / "leaflet-draw").exists()
    assert not drawing_available(static)
    assert "drawing plan areas on the map is unavailable" in caplog.text


def test_drawing_needs_the_icons_as_well_as_the_script(tmp_path: Path):
    dist = fake_leaflet_draw(tmp_path / "node_modules")
    static = tmp_path / "static"
    prepare_static(static, node_modules=tmp_path / "node_modules")

    (static / "vendor" / "leaflet-draw" / "images" / "spritesheet.png").unlink()

    assert not drawing_available(static)
    assert (dist / "images" / "spritesheet.png").is_file()  # the source is never touched
