"""Manifest, images, synthetic pairs and the paired dataset."""

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image

from imdl_sigma.data.datasets import SigmaPairDataset
from imdl_sigma.data.images import load_mask, load_rgb, save_mask
from imdl_sigma.data.manifest import ManifestError, Pair, read_manifest, write_manifest
from imdl_sigma.synth.generator import SynthConfig, concept_from_filename, make_pair, bundled_photos, bundled_textures
from imdl_sigma.errors import BadInputError


def write_image(path, array):
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def pair_files(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "s.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    write_image(tmp_path / "e.png", rng.integers(0, 255, (20, 30, 3), dtype=np.uint8))
    mask = np.zeros((20, 30), bool)
    mask[5:10, 5:20] = True
    save_mask(tmp_path / "m.png", mask)
    return tmp_path, mask


def test_manifest_round_trip(pair_files):
    root, _ = pair_files
    pairs = [Pair("p1", str(root / "s.png"), str(root / "e.png"), "remove the cat", str(root / "m.png"), "remove"),
             Pair("p2", str(root / "s.png"), str(root / "e.png"), "", None, None)]
    write_manifest(root / "pairs.jsonl", pairs)
    first = json.loads((root / "pairs.jsonl").read_text().splitlines()[0])
    assert first["source"] == "s.png"  # stored relative to the manifest
    assert read_manifest(root / "pairs.jsonl") == pairs


def test_bad_lines_reported_with_numbers_and_skippable(pair_files):
    root, _ = pair_files
    lines = [
        '{"id": "ok", "source": "s.png", "edited": "e.png"}',
        "not json",
        '{"id": "x", "source": "s.png"}',
        '{"id": "y", "source": "missing.png", "edited": "e.png"}',
        '{"id": "z", "source": "s.png", "edited": "e.png", "edit_type": "explode"}',  # free text: kept
        '{"id": "ok", "source": "s.png", "edited": "e.png"}',
    ]
    (root / "bad.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ManifestError) as err:
        read_manifest(root / "bad.jsonl")
    assert [n for n, _ in err.value.problems] == [2, 3, 4, 6]
    assert "bad.jsonl:4: source file not found" in str(err.value)
    assert [p.id for p in read_manifest(root / "bad.jsonl", skip_bad=True)] == ["ok", "z"]


def test_image_errors_are_clear(tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        load_rgb(tmp_path / "nope.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(BadInputError, match="not a readable image"):
        load_rgb(tmp_path / "broken.png")


def test_mask_round_trip_is_0_255(tmp_path, pair_files):
    _, mask = pair_files
    save_mask(tmp_path / "m2.png", mask)
    stored = np.asarray(Image.open(tmp_path / "m2.png"))
    assert set(np.unique(stored)) == {0, 255}
    assert np.array_equal(load_mask(tmp_path / "m2.png"), mask)


def test_synthetic_pairs_are_deterministic_and_exact():
    photos, textures, config = bundled_photos(), bundled_textures(), SynthConfig(size=64, empty_share=0.0)
    first = make_pair(5, photos, textures, config, seed=1)
    again = make_pair(5, photos, textures, config, seed=1)
    assert np.array_equal(first.edited, again.edited) and np.array_equal(first.mask, again.mask)
    assert first.source.shape == first.edited.shape and first.mask.shape == first.source.shape[:2]
    assert first.mask.any() and first.instruction and first.edit_type
    # Inside the region the edit is visible; outside, only the mild global perturbation.
    diff = np.abs(first.edited.astype(float) - first.source).mean(axis=2) / 255
    assert diff[first.mask].mean() > 2 * diff[~first.mask].mean()


def test_zero_edit_pairs_have_empty_masks():
    photos, textures = bundled_photos(), bundled_textures()
    pair = make_pair(0, photos, textures, SynthConfig(size=64, empty_share=1.0), seed=0)
    assert not pair.mask.any() and pair.edit_type == "global"


def test_concept_from_imagenet_filename():
    assert concept_from_filename("n01484850_great_white_shark") == "great white shark"


def test_synthesize_writes_manifest_and_resumes(synth_pairs):
    pairs = read_manifest(synth_pairs)
    assert len(pairs) == 12 and all(p.mask for p in pairs)
    from imdl_sigma.synth.generator import synthesize

    before = {p.id: (synth_pairs.parent / "edited" / f"{p.id}.png").stat().st_mtime_ns for p in pairs}
    synthesize(synth_pairs.parent, 12, seed=3, config=SynthConfig(size=96), progress=False)
    after = {p.id: (synth_pairs.parent / "edited" / f"{p.id}.png").stat().st_mtime_ns for p in pairs}
    assert before == after  # finished pairs are not redone


def test_paired_dataset_flips_and_crops_all_three_together(tmp_path):
    # A pair whose edited image, source and mask are the same picture: any unsynchronised
    # transform would make them disagree.
    ramp = np.tile(np.arange(40, dtype=np.uint8)[None] * 6, (40, 1))
    image = np.stack([ramp] * 3, axis=-1)
    write_image(tmp_path / "a.png", image)
    save_mask(tmp_path / "m.png", ramp > 120)  # columns 21 and on (levels 126 and up)
    pair = Pair("p", str(tmp_path / "a.png"), str(tmp_path / "a.png"), "", str(tmp_path / "m.png"))
    dataset = SigmaPairDataset([pair] * 32, image_size=28, train=True, mean=(0, 0, 0), std=(1, 1, 1))
    random.seed(0)  # albumentations draws its flips and crops from `random`
    for sample in dataset:
        assert torch.equal(sample["image"], sample["source_image"])
        # The mask is resampled by nearest neighbour, the image bilinearly: thresholded halfway
        # between levels 120 and 126, the image may disagree with the mask by one boundary pixel per
        # row; a flip or crop applied to one of them alone moves the boundary by many.
        from_image = sample["image"][0] > 123 / 255
        disagreement_per_row = ((sample["mask"][0] > 0.5) != from_image).sum(dim=1)
        assert int(disagreement_per_row.max()) <= 1


def test_paired_dataset_resizes_a_smaller_source(tmp_path, pair_files):
    root, _ = pair_files
    write_image(root / "small.png", np.zeros((10, 15, 3), np.uint8))
    pair = Pair("p", str(root / "small.png"), str(root / "e.png"), "", str(root / "m.png"))
    sample = SigmaPairDataset([pair], image_size=28)[0]
    assert sample["source_image"].shape == sample["image"].shape == (3, 28, 28)
    assert sample["mask"].shape == (1, 28, 28)


def test_synth_with_a_vae_roundtrip(tmp_path, tiny_vae_dir):
    from imdl_sigma.synth.generator import SynthConfig, synthesize
    from imdl_sigma.synth.vae import VaeRoundtrip

    roundtrip = VaeRoundtrip.from_path(str(tiny_vae_dir))
    image = np.random.default_rng(0).integers(0, 256, (30, 44, 3), dtype=np.uint8)  # not a multiple of 4
    assert roundtrip(image).shape == image.shape and roundtrip(image).dtype == np.uint8
    manifest = synthesize(tmp_path / "s", 3, seed=1, config=SynthConfig(size=48, empty_share=0.0),
                          progress=False, vae=str(tiny_vae_dir))
    settings = json.loads((tmp_path / "s" / "synth_config.json").read_text())
    assert settings["vae"] == str(tiny_vae_dir)
    plain = synthesize(tmp_path / "p", 3, seed=1, config=SynthConfig(size=48, empty_share=0.0), progress=False)
    with_vae, without = read_manifest(manifest), read_manifest(plain)
    assert not np.array_equal(load_rgb(with_vae[0].edited), load_rgb(without[0].edited))
    assert np.array_equal(load_mask(with_vae[0].mask), load_mask(without[0].mask))


def test_missing_vae_names_the_fix(tmp_path):
    from imdl_sigma.synth.vae import load_vae
    from imdl_sigma.errors import MissingWeightsError

    with pytest.raises(MissingWeightsError, match="--vae DIR"):
        load_vae(str(tmp_path / "nowhere"))


def regime_config(splice_share: float, **overrides) -> SynthConfig:
    config = SynthConfig(size=64, empty_share=0.0, splice_share=splice_share)
    return config.with_overrides({"postprocess.prob": 0.0, **overrides})


def test_splice_regime_leaves_every_pixel_outside_the_mask_identical():
    photos, textures = bundled_photos(), bundled_textures()
    for index in range(12):  # every edit kind comes up
        pair = make_pair(index, photos, textures, regime_config(1.0), seed=4)
        outside = ~pair.mask
        assert pair.regime == "splice" and pair.mask.any()
        assert np.array_equal(pair.edited[outside], pair.source[outside])
        assert np.abs(pair.edited.astype(int) - pair.source)[pair.mask].max() > 0


def test_regeneration_regime_changes_the_whole_image():
    photos, textures = bundled_photos(), bundled_textures()
    pair = make_pair(3, photos, textures, regime_config(0.0), seed=4)
    changed = np.abs(pair.edited.astype(int) - pair.source).max(axis=2) > 0
    assert pair.regime == "regeneration" and changed[~pair.mask].mean() > 0.5


@pytest.mark.parametrize("kind", ["redraw", "inpaint", "tone"])
def test_each_new_edit_kind_changes_only_the_masked_region(kind):
    from imdl_sigma.synth.edits import EDITS, EditContext

    rng = np.random.default_rng(0)
    image = bundled_photos()[1].load()[:96, :96].copy()
    mask = np.zeros((96, 96), bool)
    mask[20:60, 30:70] = True
    ctx = EditContext("cat", bundled_photos()[0].load()[:96, :96], "astronaut", bundled_textures(), 1.5)
    edited, instruction, edit_type = EDITS[kind](image, mask, rng, ctx)
    assert np.array_equal(edited[~mask], image[~mask]) and instruction.startswith(("redraw", "remove", "make"))
    assert np.abs(edited.astype(int) - image)[mask].mean() > 1


@pytest.mark.parametrize("noun, phrase", [
    ("cat", "a cat"), ("astronaut", "an astronaut"), ("coins", "coins"), ("coffee", "coffee"),
    ("great white shark", "a great white shark"), ("glass", "a glass"),
])
def test_instruction_articles(noun, phrase):
    from imdl_sigma.synth.edits import with_article

    assert with_article(noun) == phrase


def test_synth_config_overrides_reach_nested_fields():
    config = SynthConfig().with_overrides({"regeneration.blur_prob": 0.9, "splice_share": 1.0})
    assert config.regeneration.blur_prob == 0.9 and config.splice_share == 1.0
    with pytest.raises(BadInputError, match="unknown SynthConfig field"):
        SynthConfig().with_overrides({"regeneration.nope": 1})
