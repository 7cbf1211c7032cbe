"""`nst batch --ray` on a local Ray (2 CPUs) started by these tests: bad files, rerun, a killed actor.

Skipped only when Ray is not importable (the `nst[cluster]` extra; scripts/install.sh installs it)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'nst[cluster]' (scripts/install.sh does)")

from nst.batch import MANIFEST_NAME, StylizerSpec, plan, run_batch, settings_of  # noqa: E402
from nst.batch.ray_backend import run_ray  # noqa: E402

from .test_batch import STYLE, outputs, photos, report, run  # noqa: E402

pytestmark = pytest.mark.usefixtures("time_limit")


def test_folder_with_a_corrupt_image_on_ray(local_ray: None, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    photos(inp, ["a.png", "b.jpg", "sub/c.png"])
    (inp / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, stdout, err = run(capsys, "batch", str(inp), "-o", str(out), *STYLE, "-q", "--ray")
    assert code == 3 and "3 done, 1 failed" in stdout, err
    assert "Ray (local), 2 workers" in err
    assert outputs(out) == ["a.png", "b.png", "sub/c.png"]
    rows = {Path(r["input"]).name: r for r in report(out)}
    assert rows["broken.jpg"]["status"] == "failed" and "broken.jpg: " in rows["broken.jpg"]["error"]
    assert len({r["worker"] for r in rows.values()}) >= 1 and all(r["worker"] for r in rows.values())
    assert ray.is_initialized()  # the batch joined the running Ray and left it running
    code, stdout, _ = run(capsys, "batch", str(inp), "-o", str(out), *STYLE, "-q", "--ray")
    assert "0 done, 1 failed, 3 complete before" in stdout  # the rerun does no work (but retries the bad file)


def test_a_killed_actor_loses_no_output_and_writes_none_twice(local_ray: None, tmp_path: Path) -> None:
    inp, out = tmp_path / "in", tmp_path / "out"
    names = [f"p{i:02d}.png" for i in range(16)]
    photos(inp, names)
    spec = StylizerSpec("net", ("starry_night",), size=48, threads=1)
    settings = settings_of(spec, spec.build())
    killed: list[int] = []
    writes: list[str] = []

    def on_record(rec: Any) -> None:
        writes.append(Path(rec.output).name)
        if rec.worker and not killed:
            pid = int(rec.worker.rsplit(":", 1)[1])
            assert pid != os.getpid()
            os.kill(pid, signal.SIGKILL)  # the actor's process, with tasks queued on it
            killed.append(pid)

    r = run_batch(plan(inp, out), settings,
                  lambda tasks, on_result: run_ray(tasks, spec, 2, on_result, cpus_per_worker=1), on_record=on_record)
    assert killed and r.done == 16 and r.failed == 0
    assert sorted(writes) == names  # each output recorded (and written by the driver) exactly once
    assert outputs(out) == names
    assert sorted(Path(x["output"]).name for x in report(out)) == names
    later = {x["worker"] for x in report(out)} - {None}
    assert any(int(w.rsplit(":", 1)[1]) not in killed for w in later)
    assert sorted(json.loads((out / MANIFEST_NAME).read_text())["entries"]) == names
