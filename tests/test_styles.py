"""The bundled style library and examine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from nst.errors import InputError
from nst.examine import contact_sheet, examine
from nst.io.image import load_image
from nst.registry import get_style, resolve_style, style_label, styles

REQUIRED = ["starry_night", "the_scream", "great_wave", "composition_vii", "udnie"]


def test_library_has_required_paintings_within_budget() -> None:
    table = styles()
    assert len(table) >= 10
    assert set(REQUIRED) <= set(table)
    total = sum(s.path.stat().st_size for s in table.values())
    assert total <= 10 * 1024 * 1024
    for s in table.values():
        assert s.title and s.artist and s.year < 1930 and "Public domain" in s.licence
    index = json.loads((next(iter(table.values())).path.parent / "index.json").read_text())
    assert [e["name"] for e in index] == list(table)
    assert (next(iter(table.values())).path.parent / "ATTRIBUTION.md").is_file()


@pytest.mark.parametrize("name", list(styles()))
def test_every_bundled_style_loads(name: str) -> None:
    s = get_style(name)
    x = load_image(s.path)
    assert x.shape[0] == 1 and x.shape[1] == 3 and max(x.shape[-2:]) <= 1024 and min(x.shape[-2:]) >= 256


def test_unknown_name_suggests_closest() -> None:
    with pytest.raises(InputError, match="did you mean starry_night"):
        resolve_style("stary_night")
    with pytest.raises(InputError, match="unknown style 'zzz'"):
        resolve_style("zzz")


def test_paths_and_names() -> None:
    assert resolve_style("the_scream") == get_style("the_scream").path
    assert resolve_style("some/dir/painting.jpg") == Path("some/dir/painting.jpg")
    assert style_label("some/dir/painting.jpg") == "painting"
    assert style_label("udnie") == "udnie"


def test_contact_sheet_layout() -> None:
    tiles = [(f"t{i}", Image.new("RGB", (60, 40), (i * 40, 0, 0))) for i in range(5)]
    sheet = contact_sheet(tiles, tile=64)
    assert sheet.width > 64 * 2 and sheet.height > 64


def test_examine_writes_results_and_sheet(tmp_path: Path, photo_path: Path) -> None:
    seen: list[str] = []
    sheet = examine(photo_path, "udnie,the_scream", tmp_path / "out", size=64,
                    on_result=lambda label, sec, p: seen.append(label))
    assert seen == ["udnie", "the_scream"]
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["photo_sheet.png", "photo_the_scream.png", "photo_udnie.png"]
    with Image.open(sheet) as im:
        assert im.width > 64 * 3 - 1
    with pytest.raises(Exception, match="already exists"):
        examine(photo_path, "udnie", tmp_path / "out", size=64)
