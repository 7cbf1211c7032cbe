"""`nst batch` on this machine: the folder walk, the manifest (rerun, changed settings), bad files,
hostile inputs, worker processes (one killed mid-batch) and videos in the folder."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from PIL import Image

from nst.batch import MANIFEST_NAME, REPORT_NAME, StylizerSpec, local_backend, plan, run_batch, settings_of
from nst.cli import main

from ..conftest import make_clip, make_photo

STYLE = ["--style", "starry_night", "--method", "net", "--size", "48"]
#: In this process (no worker processes to start): the local tests' default; worker processes have their own tests.
LOCAL = STYLE + ["--workers", "1"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def photos(root: Path, names: list[str]) -> list[Path]:
    paths = []
    for i, n in enumerate(names):
        p = root / n
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(make_photo(48 + 4 * i, 64, seed=i)).save(p)
        paths.append(p)
    return paths


def report(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / REPORT_NAME).read_text().splitlines()]


def outputs(out: Path) -> list[str]:
    """Every file under OUT but the batch's own (relative, sorted): no temporary file may be left."""
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                  and p.name not in (MANIFEST_NAME, REPORT_NAME))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    inp = tmp_path / "in"
    photos(inp, ["a.jpg", "b.png", "sub/c.png", "sub/deeper/d.webp"])
    (inp / "sub" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (inp / "notes.txt").write_text("not a picture")
    (inp / ".hidden.png").write_bytes(b"not looked at")
    return inp


def test_folder_with_a_corrupt_image(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    assert code == 3  # finished, some files failed (documented in `nst batch --help`)
    assert outputs(out) == ["a.png", "b.png", "sub/c.png", "sub/deeper/d.png"]
    for rel, src in [("a.png", "a.jpg"), ("sub/deeper/d.png", "sub/deeper/d.webp")]:
        with Image.open(out / rel) as im, Image.open(folder / src) as orig:
            assert im.format == "PNG" and max(im.size) == 48
            assert abs(im.width / im.height - orig.width / orig.height) < .1
    rows = {Path(r["input"]).name: r for r in report(out)}
    assert set(rows) == {"a.jpg", "b.png", "c.png", "d.webp", "broken.png"}
    assert rows["broken.png"]["status"] == "failed" and "broken.png: cannot decode image" in rows["broken.png"]["error"]
    assert "\n" not in rows["broken.png"]["error"]
    assert all(r["status"] == "done" and r["error"] is None and r["seconds"] > 0 for n, r in rows.items()
               if n != "broken.png")
    assert "4 done, 1 failed" in stdout and "nst: failed:" in err and "Traceback" not in err


def test_rerun_does_no_work_and_changed_settings_redo_everything(tmp_path: Path, folder: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (folder / "sub" / "broken.png").unlink()
    out = tmp_path / "out"
    assert run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")[0] == 0
    stamps = {p: (out / p).stat().st_mtime_ns for p in outputs(out)}
    code, stdout, _ = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    assert code == 0 and "0 done, 0 failed, 4 complete before" in stdout
    assert {p: (out / p).stat().st_mtime_ns for p in outputs(out)} == stamps
    assert {r["status"] for r in report(out)} == {"skipped"}
    # a changed input is redone, and only it
    Image.fromarray(make_photo(50, 70, seed=9)).save(folder / "b.png")
    code, stdout, _ = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    assert code == 0 and "1 done, 0 failed, 3 complete before" in stdout
    # other settings: everything again (the outputs are the batch's own, so they may be replaced)
    code, stdout, _ = run(capsys, "batch", str(folder), "-o", str(out), *STYLE[:-1], "40", "--workers", "1", "-q")
    assert code == 0 and "4 done, 0 failed, 0 complete before" in stdout
    with Image.open(out / "a.png") as im:
        assert max(im.size) == 40


def test_an_output_recorded_but_missing_or_changed_is_redone(tmp_path: Path, folder: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    (out / "a.png").unlink()
    (out / "b.png").write_bytes(b"half")  # not what was recorded
    code, stdout, _ = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    assert code == 3 and "2 done, 1 failed, 2 complete before" in stdout
    with Image.open(out / "b.png") as im:
        im.load()


def test_existing_files_not_written_by_the_batch_are_kept(tmp_path: Path, folder: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.png").write_bytes(b"the user's own file")
    code, stdout, err = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q")
    assert code == 3 and (out / "a.png").read_bytes() == b"the user's own file"
    assert "a.png: already exists and was not written by this batch (use --overwrite" in err
    code, stdout, _ = run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q", "--overwrite")
    assert "1 done" in stdout and (out / "a.png").read_bytes() != b"the user's own file"


def test_format_choices_and_the_stale_temporary_files_of_a_killed_run(tmp_path: Path, folder: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = out / "sub" / ".c.jpg.x1y2z3.part.jpg"  # what a killed atomic write leaves
    stale.write_bytes(b"partial")
    keep = out / "sub" / ".c.jpg.notes"
    keep.write_bytes(b"someone else's")
    run(capsys, "batch", str(folder), "-o", str(out), *LOCAL, "-q", "--format", "jpg")
    assert outputs(out) == ["a.jpg", "b.jpg", "sub/.c.jpg.notes", "sub/c.jpg", "sub/deeper/d.jpg"]
    assert not stale.exists()
    with Image.open(out / "sub" / "c.jpg") as im:
        assert im.format == "JPEG"
    out2 = tmp_path / "same"
    run(capsys, "batch", str(folder), "-o", str(out2), *LOCAL, "-q", "--format", "same")
    assert outputs(out2) == ["a.jpg", "b.png", "sub/c.png", "sub/deeper/d.webp"]


def test_list_file_with_missing_and_duplicate_entries(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = photos(tmp_path / "shoot", ["day1/a.png", "day2/b.png"])
    lst = tmp_path / "list.txt"
    lst.write_text(f"# the keepers\nshoot/day1/a.png\n\n{b}\nshoot/day1/a.png\nshoot/day3/gone.png\n")
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "batch", str(lst), "-o", str(out), *LOCAL, "-q")
    assert code == 3
    assert outputs(out) == ["day1/a.png", "day2/b.png"]  # relative to the entries' common folder
    assert "list.txt:5: shoot/day1/a.png is already on line 2; taken once" in err
    rows = {Path(r["input"]).name: r for r in report(out)}
    assert rows["gone.png"]["status"] == "failed" and rows["gone.png"]["error"].endswith("gone.png: no such file")
    assert len(report(out)) == 3


@pytest.mark.parametrize("case, message", [
    ("missing", "no such folder or list file"),
    ("empty", "no images or videos found"),
    ("out_inside", "is inside the input folder"),
    ("out_is_file", "exists and is not a folder"),
    ("unwritable", "cannot write there"),
    ("collision", "would both be written to"),
    ("image_as_in", "is an image or video, not a folder or a list file"),
    ("empty_list", "the list names no files"),
    ("binary_list", "not a text list of files"),
    ("report_not_ours", "already exists and is not a report of nst batch"),
    ("report_not_jsonl", "give it a .jsonl name"),
])
def test_hostile_inputs_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str,
                                            message: str) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    inp.mkdir()
    photos(inp, ["a.jpg"])
    if case == "missing":
        inp = tmp_path / "nowhere"
    elif case == "empty":
        inp = tmp_path / "empty"
        inp.mkdir()
        (inp / "readme.txt").write_text("x")
    elif case == "out_inside":
        out = inp / "results"
    elif case == "out_is_file":
        out.write_text("a file")
    elif case == "unwritable":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"  # its parent is a file: mkdir fails even for root
    elif case == "collision":
        photos(inp, ["a.png"])
    elif case == "image_as_in":
        inp = inp / "a.jpg"
    elif case == "empty_list":
        inp = tmp_path / "list.txt"
        inp.write_text("# nothing\n\n")
    elif case == "binary_list":
        inp = tmp_path / "list.txt"
        inp.write_bytes(b"\xff\xfe\x00\x81")
    extra = []
    if case == "report_not_ours":
        (tmp_path / "notes.jsonl").write_text('{"mine": 1}\n')
        extra = ["--report", str(tmp_path / "notes.jsonl")]
    elif case == "report_not_jsonl":
        extra = ["--report", str(tmp_path / "report.txt")]
    code, stdout, err = run(capsys, "batch", str(inp), "-o", str(out), *STYLE, *extra)
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("nst: error: ") and message in err, err
    if case == "report_not_ours":
        assert (tmp_path / "notes.jsonl").read_text() == '{"mine": 1}\n'
    assert not any(p.is_file() for p in out.rglob("*")) if out.is_dir() else True  # nothing written in OUT


@pytest.mark.parametrize("argv, message", [
    (["--workers", "0"], "--workers must be a whole number of at least 1, not 0"),
    (["--workers", "-1"], "--workers must be a whole number of at least 1, not -1"),
    (["--workers", "100000"], "--workers must be at most"),
    (["--workers", "two"], "expected a whole number"),
    (["--ray=not an address"], "--ray expects host:port"),
    (["--ray=127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
    (["--ray=ray://127.0.0.1:99999"], "--ray expects host:port"),
    (["--gpus-per-worker", "1"], "--gpus-per-worker applies only with --ray"),
    (["--format", "gif"], "invalid choice"),
    (["--iterations", "3"], "--iterations does not apply to --method net"),
])
def test_bad_options_are_one_line_errors(tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str],
                                         argv: list[str], message: str) -> None:
    pytest.importorskip("ray") if any(a.startswith("--ray=127") for a in argv) else None
    code, _, err = run(capsys, "batch", str(folder), "-o", str(tmp_path / "out"), *STYLE, *argv)
    assert code in (1, 2) and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_worker_processes_and_a_killed_worker(tmp_path: Path) -> None:
    """2 worker processes; one is SIGKILLed after the first result: its pool is rebuilt, the unfinished
    files are run again, and every output exists exactly once (no temporary file left, one report line each)."""
    inp, out = tmp_path / "in", tmp_path / "out"
    photos(inp, [f"p{i:02d}.png" for i in range(12)])
    spec = StylizerSpec("net", ("starry_night",), size=48, threads=1)
    settings = settings_of(spec, spec.build())
    killed: list[int] = []

    def on_record(rec: object) -> None:
        worker = getattr(rec, "worker", None)
        if worker and not killed:
            pid = int(worker.rsplit(":", 1)[1])
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    r = run_batch(plan(inp, out), settings, local_backend(spec, 2), on_record=on_record)
    assert killed and r.done == 12 and r.failed == 0
    assert outputs(out) == [f"p{i:02d}.png" for i in range(12)]
    rows = report(out)
    assert sorted(Path(x["output"]).name for x in rows) == [f"p{i:02d}.png" for i in range(12)]
    assert any(x["worker"] and int(x["worker"].rsplit(":", 1)[1]) not in killed for x in rows[1:])
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert sorted(manifest["entries"]) == [f"p{i:02d}.png" for i in range(12)]


def test_the_same_pixels_with_one_or_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import numpy as np

    inp = tmp_path / "in"
    photos(inp, ["a.png", "b.png", "c.png"])
    run(capsys, "batch", str(inp), "-o", str(tmp_path / "one"), *LOCAL, "-q")
    code, stdout, _ = run(capsys, "batch", str(inp), "-o", str(tmp_path / "two"), *STYLE, "-q", "--workers", "2")
    assert code == 0 and "3 done" in stdout
    for n in ("a.png", "b.png", "c.png"):
        a = np.asarray(Image.open(tmp_path / "one" / n), dtype=np.int16)
        b = np.asarray(Image.open(tmp_path / "two" / n), dtype=np.int16)
        assert a.shape == b.shape and np.abs(a - b).mean() < 2.0  # threads may round differently


def test_videos_in_the_folder_go_through_the_video_pipeline(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from nst.video import probe

    inp = tmp_path / "in"
    photos(inp, ["still.png"])
    (inp / "clips").mkdir()
    make_clip(inp / "clips" / "walk.mp4", n=12, w=64, h=48)
    (inp / "clips" / "broken.mov").write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x00" * 64)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "batch", str(inp), "-o", str(out), *LOCAL, "-q")
    assert code == 3 and "2 done, 1 failed" in stdout, err
    assert outputs(out) == ["clips/walk.mp4", "still.png"]
    info = probe(out / "clips" / "walk.mp4")
    assert info.frames == 12 and info.audio and max(info.width, info.height) == 48
    rows = {Path(r["input"]).name: r for r in report(out)}
    assert rows["broken.mov"]["status"] == "failed" and "broken.mov" in rows["broken.mov"]["error"]
    code, stdout, _ = run(capsys, "batch", str(inp), "-o", str(out), *LOCAL, "-q")
    assert "0 done, 1 failed, 2 complete before" in stdout


def test_default_threads_follow_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    # one local worker: every core on ONNX Runtime (its threads do not spin), every core but one on torch
    # (the last one left to the file I/O); several workers share the cores
    import nst.cli.batch as B
    from nst.engines import resolve_engine

    monkeypatch.setattr(B.os, "cpu_count", lambda: 4)
    assert (B.default_threads(1, "onnxruntime"), B.default_threads(1, "torch"), B.default_threads(1, None)) == (4, 3, 3)
    assert B.default_threads(2, "onnxruntime") == B.default_threads(2, "torch") == 2
    monkeypatch.setattr(B.os, "cpu_count", lambda: 1)
    assert B.default_threads(1, "torch") == B.default_threads(3, None) == 1
    assert resolve_engine("net.onnx") == "onnxruntime" and resolve_engine("net.pt", "opencv") == "opencv"
