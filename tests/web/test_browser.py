"""The page in a real browser: Playwright drives the system's headless Chromium (Debian's `chromium`).

Playwright's own browser download is not used: the tests point it at /usr/bin/chromium (or
$NST_CHROMIUM). Without Chromium or the playwright package they skip and say why. With
NST_SCREENSHOTS=1 the screenshot test writes the README's pictures into docs/gallery/.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed: pip install 'nst[web]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright; "
                               "it is in nst's dev extra)")

from PIL import Image  # noqa: E402

from nst.web.limits import ServerLimits  # noqa: E402
from tests.conftest import make_clip  # noqa: E402

from .server import Server, png_bytes, running  # noqa: E402

CHROMIUM = os.environ.get("NST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
GALLERY = Path(__file__).resolve().parents[2] / "docs" / "gallery"
LIMITS = ServerLimits(max_upload_mb=2.0, max_video_seconds=5.0, max_video_side=640, workers=1, queue=4)
TIMEOUT = 120_000  # ms: a shared 2-core CPU can be slow
expect = sync_api.expect
expect.set_options(timeout=TIMEOUT)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it (apt-get install chromium) to run the browser tests")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(LIMITS) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 860}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server.url)
    pg.wait_for_selector("#gallery .tile")
    yield pg
    context.close()
    assert not errors, errors  # no script error on the page


def photo_file(tmp_path: Path, w: int = 200, h: int = 150) -> Path:
    p = tmp_path / "generated.png"
    p.write_bytes(png_bytes(w, h))
    return p


def paint(page: Any, photo: Path | dict[str, Any], style: str = "the_scream", size: str = "256") -> None:
    page.set_input_files("#photo", photo)
    page.click(f'#gallery .tile[data-name="{style}"]')
    page.select_option("#size", size)
    page.click("#paint")


def test_photo_to_painting_and_download(page: Any, tmp_path: Path) -> None:
    paint(page, photo_file(tmp_path))
    page.wait_for_selector("#actions:not([hidden])")
    assert page.eval_on_selector("#after", "i => i.complete && i.naturalWidth") == 256
    page.fill("#slider", "20")
    with page.expect_download() as d:
        page.click("#download")
    assert d.value.suggested_filename == "generated_the_scream.png"
    img = Image.open(d.value.path())
    assert img.format == "PNG" and img.size == (256, 192)


def test_a_corrupt_file_shows_the_error(page: Any) -> None:
    paint(page, {"name": "broken.jpg", "mimeType": "image/jpeg", "buffer": b"this is no jpeg"})
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error") == "broken.jpg: not an image file (or an unsupported format)"


def test_an_oversized_upload_is_refused(page: Any) -> None:
    paint(page, {"name": "huge.png", "mimeType": "image/png", "buffer": os.urandom(3 * 1024 * 1024)})
    page.wait_for_selector("#error:not([hidden])")
    assert page.inner_text("#error").startswith("upload too large")


def test_a_path_traversal_request_is_refused(page: Any, server: Server) -> None:
    for path in ["static/..%2F..%2F..%2F..%2Fetc%2Fpasswd", "api/jobs/..%2F..%2Fetc%2Fpasswd/result",
                 "styles/..%2F..%2Fweb%2Fapp.py.jpg"]:
        r = page.request.get(server.url + path)
        assert r.status == 404 and b"root:" not in r.body(), path


def test_cancel_stops_an_optimize_job(page: Any, tmp_path: Path, server: Server) -> None:
    page.set_input_files("#photo", photo_file(tmp_path))
    page.click('#gallery .tile[data-name="udnie"]')
    page.click('#methods button[data-m="optimize"]')
    page.click("#more summary")
    page.fill('#more-fields [name="iterations"]', "300")
    page.select_option("#size", "256")
    page.click("#paint")
    expect(page.locator("#status-text")).to_contain_text("left")
    page.wait_for_selector("#compare.has-result")  # an intermediate preview, as the image forms
    assert re.search(r"iteration \d+ of \d+ · \d+% · about \d+", page.inner_text("#status-text"))
    page.click("#cancel")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.inner_text("#error") == "Cancelled."
    jobs = [j for j in server.queue.jobs.values() if j.kind == "image" and j.state == "cancelled"]
    assert jobs and all(j.step < 300 for j in jobs)


def test_examine_then_pick_a_tile(page: Any, tmp_path: Path) -> None:
    page.set_input_files("#photo", photo_file(tmp_path, 96, 72))
    page.click('.tabs button[data-tab="examine"]')
    page.click("#examine-go")
    expect(page.locator("#examine-grid figure")).to_have_count(12)
    style = page.get_attribute("#examine-grid figure:nth-child(5)", "data-style")
    page.click("#examine-grid figure:nth-child(5)")
    assert page.is_visible("#tab-image")
    assert page.get_attribute("#gallery .tile.on", "data-name") == style


def test_a_video_job_completes_with_sound_and_survives_a_reload(page: Any, tmp_path: Path) -> None:
    import av

    clip = make_clip(tmp_path / "clip.mp4")
    page.click('#gallery .tile[data-name="the_scream"]')
    page.click('.tabs button[data-tab="video"]')
    page.set_input_files("#video", clip)
    page.select_option("#video-size", "240")
    page.click("#video-go")
    expect(page).to_have_url(re.compile(r"[?&]job=[0-9a-f]{32}"))
    page.reload()  # the job id in the address brings it back
    page.wait_for_selector("#video-actions:not([hidden])")
    with page.expect_download() as d:
        page.click("#video-download")
    assert d.value.suggested_filename == "clip_the_scream.mp4"
    with av.open(d.value.path()) as c:
        assert c.streams.audio and c.streams.video[0].width == 240
        assert sum(1 for _ in c.decode(video=0)) == 48


def test_the_webcam_streams_and_switches_styles(page: Any) -> None:
    page.click('.tabs button[data-tab="webcam"]')
    page.click("#cam-go")
    expect(page.locator("#fps")).to_have_text(re.compile(r"^\d+\.\d fps$"))
    page.select_option("#cam-style", index=2)
    first = page.get_attribute("#cam-out", "src")
    expect(page.locator("#cam-out")).not_to_have_attribute("src", first or "")
    fps = float(page.inner_text("#fps").split()[0])
    assert fps > 0 and page.inner_text("#cam-error") == ""
    page.click("#cam-go")  # stop


@pytest.mark.parametrize("name, viewport", [("laptop", {"width": 1280, "height": 800}),
                                            ("phone", {"width": 390, "height": 844})])
def test_screenshots(browser: Any, server: Server, tmp_path: Path, name: str, viewport: dict[str, int]) -> None:
    from nst.registry import demo_content

    context = browser.new_context(viewport=viewport, is_mobile=name == "phone", has_touch=name == "phone")
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#gallery .tile img")
    page.locator("#gallery img").last.scroll_into_view_if_needed()
    for _ in range(100):  # the thumbnails load lazily
        if page.eval_on_selector_all("#gallery img", "xs => xs.every(i => i.complete && i.naturalWidth)"):
            break
        page.wait_for_timeout(100)
    paint(page, Path(str(demo_content())), style="starry_night", size="512")
    page.wait_for_selector("#actions:not([hidden])")
    expect(page.locator("#compare.has-result")).to_be_visible()
    page.fill("#slider", "45")
    page.dispatch_event("#slider", "input")
    out = (GALLERY if os.environ.get("NST_SCREENSHOTS") else tmp_path) / f"web_{name}.jpg"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(out), type="jpeg", quality=80, full_page=True)
    context.close()
    assert Image.open(out).size[0] == viewport["width"]
