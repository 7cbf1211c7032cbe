"""Training loop, checkpoints and the `nst train` / `nst export` CLI, on generated images."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from PIL import Image

from nst.adain import AdaINModel, Decoder
from nst.checkpoints import FORMAT_VERSION, load_checkpoint, read_checkpoint
from nst.errors import InputError, OptionError
from nst.features import VGG19
from nst.nets import stylize_padded
from nst.progress import Progress
from nst.train import TrainOptions, train

from .conftest import make_photo


def photo_folder(root: Path, n: int = 3, corrupt: bool = False) -> Path:
    d = root / "photos"
    (d / "sub").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(make_photo(40 + 4 * i, 52, seed=i)).save(d / ("sub" if i % 2 else ".") / f"p{i}.png")
    if corrupt:
        (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    return d


def opts_for(tmp_path: Path, style: Path, **kw: object) -> TrainOptions:
    base = dict(style=str(style), data=str(photo_folder(tmp_path, corrupt=bool(kw.pop("corrupt", False)))),
                output=str(tmp_path / "net.pt"), arch="slim", size=32, batch=2, iterations=4, lr=1e-2,
                style_size=48, checkpoint_every=2, preview_every=0, style_weight=1e3)
    base.update(kw)
    return TrainOptions(**base)  # type: ignore[arg-type]


def test_training_lowers_the_loss(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    r = train(opts_for(tmp_path, style_path, iterations=30), vgg=tiny_vgg)
    totals = [h["total"] for h in r.losses]
    assert len(totals) == 30 and all(np.isfinite(totals))
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:2])


def test_checkpoint_round_trip(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    events: list = []
    r = train(opts_for(tmp_path, style_path, preview_every=2), events.append, vgg=tiny_vgg)
    net, meta = load_checkpoint(r.path)
    assert meta["format_version"] == FORMAT_VERSION and meta["iteration"] == 4 and meta["arch_name"] == "slim"
    assert meta["style"]["name"] == "painting" and len(meta["style"]["sha256"]) == 64
    assert meta["train"]["size"] == 32 and meta["arch"]["channels"] == [8, 16, 32]
    # the preview after the last iteration was made by the same weights as the checkpoint
    last = [e for e in events if e.stage == "train"][-1]
    assert last.image is not None and (tmp_path / "net_previews" / "iter_000004.jpg").is_file()
    from nst.io.image import load_image
    from nst.registry import demo_content

    with torch.no_grad():
        again = stylize_padded(net, load_image(demo_content(), size=32))
    torch.testing.assert_close(again, last.image, atol=1e-5, rtol=0)


def test_resume_equals_uninterrupted_run(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    full = train(opts_for(tmp_path / "a", style_path, iterations=6), vgg=tiny_vgg)
    first = train(opts_for(tmp_path / "b", style_path, iterations=3), vgg=tiny_vgg)
    assert len(first.losses) == 3
    resumed = train(opts_for(tmp_path / "b", style_path, iterations=6), resume=True, vgg=tiny_vgg)
    assert [h["total"] for h in resumed.losses] == [h["total"] for h in full.losses]
    a, _ = load_checkpoint(full.path)
    b, _ = load_checkpoint(resumed.path)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


@pytest.fixture
def tiny_teacher(tiny_vgg: VGG19) -> AdaINModel:
    torch.manual_seed(1)
    return AdaINModel(tiny_vgg, Decoder(weights=None, width=0.125))


def test_distilling_adain_lowers_the_loss_and_resumes_exactly(tmp_path: Path, style_path: Path,
                                                              tiny_teacher: AdaINModel) -> None:
    o = dict(teacher="adain", lr=3e-2, corrupt=True, style_size=64)
    r = train(opts_for(tmp_path / "a", style_path, iterations=40, **o), teacher_model=tiny_teacher)
    totals = [h["total"] for h in r.losses]
    assert set(r.losses[0]) == {"teacher", "content", "style", "tv", "total"} and all(np.isfinite(totals))
    assert r.losses[0]["style"] > 0 and r.losses[0]["content"] > 0
    assert np.mean(totals[-5:]) < 0.5 * np.mean(totals[:2])
    assert len(r.skipped) == 1 and r.skipped[0].endswith("broken.jpg")
    train(opts_for(tmp_path / "b", style_path, iterations=20, **o), teacher_model=tiny_teacher)
    resumed = train(opts_for(tmp_path / "b", style_path, iterations=40, **o), resume=True, teacher_model=tiny_teacher)
    assert [h["total"] for h in resumed.losses] == totals
    with pytest.raises(OptionError, match="teacher"):
        train(opts_for(tmp_path / "b", style_path, iterations=50, corrupt=True, style_size=64, lr=3e-2), resume=True,
              teacher_model=tiny_teacher)


def test_resume_refuses_changed_settings(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    train(opts_for(tmp_path, style_path, iterations=2), vgg=tiny_vgg)
    with pytest.raises(OptionError, match="size"):
        train(opts_for(tmp_path, style_path, iterations=4, size=48), resume=True, vgg=tiny_vgg)


def test_corrupt_training_image_is_skipped(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    events: list = []
    r = train(opts_for(tmp_path, style_path, iterations=4, batch=4, corrupt=True), events.append, vgg=tiny_vgg)
    assert len(r.skipped) == 1 and r.skipped[0].endswith("broken.jpg")
    warnings = [e.info for e in events if e.stage == "warning"]
    assert len(warnings) == 1 and "broken.jpg" in warnings[0]


def test_clear_errors_for_bad_checkpoints(tmp_path: Path, style_path: Path, tiny_vgg: VGG19) -> None:
    r = train(opts_for(tmp_path, style_path, iterations=1), vgg=tiny_vgg)
    ckpt = torch.load(r.path, weights_only=True)
    ckpt["format_version"] = FORMAT_VERSION + 1
    newer = tmp_path / "newer.pt"
    torch.save(ckpt, newer)
    with pytest.raises(InputError, match="newer than this nst supports"):
        load_checkpoint(newer)
    text = tmp_path / "notes.pt"
    text.write_text("not a model\n")
    with pytest.raises(InputError, match="not an nst model checkpoint"):
        read_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(InputError, match="not an nst model checkpoint"):
        read_checkpoint(other)
    with pytest.raises(InputError, match="no such model file"):
        read_checkpoint(tmp_path / "missing.pt")


def test_bad_options(tmp_path: Path, style_path: Path) -> None:
    with pytest.raises(OptionError, match="arch"):
        train(opts_for(tmp_path, style_path, arch="huge"))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos here")
    with pytest.raises(InputError, match="no images"):
        train(TrainOptions(style=str(style_path), data=str(empty), output=str(tmp_path / "x.pt")))


# ---- guard rails (issue 13) ------------------------------------------------------------------------


def poison_batches(monkeypatch: pytest.MonkeyPatch, bad: Callable[[int], bool], value: float = float("nan")) -> None:
    """Batch i is multiplied by `value` (NaN: the loss is NaN; large: it explodes) where bad(i)."""
    from nst.train import PhotoBatches

    clean = PhotoBatches.__call__

    def call(self: PhotoBatches, i: int) -> torch.Tensor:
        x = clean(self, i)
        return x * value if bad(i) else x

    monkeypatch.setattr(PhotoBatches, "__call__", call)


def test_nan_loss_rolls_back_keeps_the_good_checkpoint_and_resumes_exactly(
        tmp_path: Path, style_path: Path, tiny_vgg: VGG19, monkeypatch: pytest.MonkeyPatch) -> None:
    poison_batches(monkeypatch, lambda i: i == 6)  # iteration 7
    on_disk: list[int] = []

    def watch(ev: Progress) -> None:
        if ev.stage == "warning":
            ckpt = read_checkpoint(tmp_path / "a" / "net.pt")
            on_disk.append(ckpt["iteration"])
            assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())

    events: list = []
    full = train(opts_for(tmp_path / "a", style_path, iterations=8, checkpoint_every=4),
                 lambda ev: (events.append(ev), watch(ev)), vgg=tiny_vgg)
    warnings = [e.info for e in events if e.stage == "warning"]
    assert len(warnings) == 1 and "iteration 7" in warnings[0] and "rolled back to iteration 4" in warnings[0]
    assert on_disk == [4] and full.rollbacks == [7] and read_checkpoint(full.path)["rollbacks"] == [7]
    totals = [h["total"] for h in full.losses]
    assert len(totals) == 8 and np.isnan(totals[6]) and np.isfinite(totals[7])
    # interrupted at the checkpoint and resumed: the same losses (the NaN included) and weights
    train(opts_for(tmp_path / "b", style_path, iterations=4, checkpoint_every=4), vgg=tiny_vgg)
    resumed = train(opts_for(tmp_path / "b", style_path, iterations=8, checkpoint_every=4), resume=True,
                    vgg=tiny_vgg)
    np.testing.assert_array_equal([h["total"] for h in resumed.losses], totals)
    assert resumed.rollbacks == [7]
    a, _ = load_checkpoint(full.path)
    b, _ = load_checkpoint(resumed.path)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k


def test_exploding_loss_is_rolled_back(tmp_path: Path, style_path: Path, tiny_vgg: VGG19,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    poison_batches(monkeypatch, lambda i: i == 11, value=1e3)  # finite, but far above the running median
    r = train(opts_for(tmp_path, style_path, iterations=13, checkpoint_every=4), vgg=tiny_vgg)
    assert r.rollbacks == [12] and np.isfinite(r.losses[11]["total"])
    assert r.losses[11]["total"] > 5 * np.median([h["total"] for h in r.losses[:11]])


def test_repeated_divergence_stops_with_the_good_checkpoint_on_disk(
        tmp_path: Path, style_path: Path, tiny_vgg: VGG19, monkeypatch: pytest.MonkeyPatch) -> None:
    from nst.errors import DivergedError, NSTError

    clean = train(opts_for(tmp_path / "clean", style_path, iterations=2, checkpoint_every=2), vgg=tiny_vgg)
    poison_batches(monkeypatch, lambda i: i >= 4)  # iterations 5, 6, 7, ... all NaN
    events: list = []
    with pytest.raises(DivergedError, match="diverged 3 times since iteration 2") as e:
        train(opts_for(tmp_path / "bad", style_path, iterations=10, checkpoint_every=2), events.append, vgg=tiny_vgg)
    assert isinstance(e.value, NSTError)
    assert len([ev for ev in events if ev.stage == "warning"]) == 2  # two rollbacks reported, then the stop
    # iteration 4's state was held but never judged good (iteration 5 diverged): the file keeps iteration 2
    ckpt = read_checkpoint(tmp_path / "bad" / "net.pt")
    assert ckpt["iteration"] == 2
    good = read_checkpoint(clean.path)["state_dict"]
    assert all(torch.equal(v, good[k]) for k, v in ckpt["state_dict"].items())


def test_gradients_are_clipped_unless_off(tmp_path: Path, style_path: Path, tiny_vgg: VGG19,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    norms: list[float] = []
    clip = torch.nn.utils.clip_grad_norm_

    def spy(params: object, max_norm: float, *a: object, **kw: object) -> torch.Tensor:
        norms.append(max_norm)
        return clip(params, max_norm, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    train(opts_for(tmp_path / "a", style_path, iterations=2, grad_clip=0.5), vgg=tiny_vgg)
    train(opts_for(tmp_path / "b", style_path, iterations=2, grad_clip=0.0), vgg=tiny_vgg)
    assert norms == [0.5, 0.5]


def test_option_errors_name_the_field(tmp_path: Path, style_path: Path) -> None:
    cases = [(dict(lr=-1.0), "lr", "lr must be greater than 0 and at most 1, not -1"),
             (dict(size=16), "size", "size must be between 32 and 4096, not 16"),
             (dict(batch=0), "batch", "batch must be between 1 and 256, not 0"),
             (dict(style_weight=-2.0), "style_weight", "style_weight must be between 0 and 1e+15, not -2"),
             (dict(teacher="vgg"), "teacher", "teacher must be one of"),
             (dict(style_layers=("relu9_1",)), "style_layers", "style_layers has unknown item(s) relu9_1"),
             (dict(grad_clip=-1.0), "grad_clip", "grad_clip must be between 0 and"),
             (dict(divergence_factor=1.0), "divergence_factor", "divergence_factor must be greater than 1"),
             (dict(data=""), "data", "data is needed")]
    for kw, field, text in cases:
        with pytest.raises(OptionError) as e:
            dataclasses.replace(opts_for(tmp_path, style_path), **kw).validate()
        assert e.value.field == field and str(e.value).startswith(text), str(e.value)
