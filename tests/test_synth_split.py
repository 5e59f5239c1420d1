"""`benco synth --split`: the held-out photos halve into two disjoint parts (test-a, test-b), so a
detector's training and test pairs can both come from photos the annotator never saw."""

import numpy as np
import pytest

from imdl_sigma.data.images import load_rgb, save_png
from imdl_sigma.data.manifest import read_manifest
from imdl_sigma.errors import BadInputError
from imdl_sigma.synth.generator import SynthConfig, select_photos, synthesize


@pytest.fixture
def photo_dir(tmp_path):
    folder = tmp_path / "photos"
    for i in range(40):
        save_png(folder / f"concept{i:02d}.png", np.full((48, 64, 3), i * 6, np.uint8))
    return folder


def names(folder, split: str) -> list[str]:
    return [photo.name for photo in select_photos(str(folder), split, holdout_every=5)]


def test_held_out_halves_are_disjoint_and_make_up_the_test_split(photo_dir):
    train, test, half_a, half_b = (names(photo_dir, split) for split in ("train", "test", "test-a", "test-b"))
    assert len(train) == 32 and len(test) == 8 and len(half_a) == len(half_b) == 4
    assert not set(half_a) & set(half_b) and sorted(half_a + half_b) == sorted(test)
    assert not set(test) & set(train)


def test_pairs_of_a_half_use_only_its_photos(photo_dir, tmp_path):
    manifest = synthesize(tmp_path / "a", 8, images=str(photo_dir), seed=1, config=SynthConfig(size=32),
                          split="test-a", progress=False)
    # each photo is one flat grey, i × 6 for concept i: a source image names the photo it came from
    used = {f"concept{int(load_rgb(pair.source)[0, 0, 0]) // 6:02d}" for pair in read_manifest(manifest)}
    assert used and used <= set(names(photo_dir, "test-a"))


def test_a_half_too_small_is_bad_input(photo_dir):
    with pytest.raises(BadInputError, match="split 'test-b' leaves 1 photo"):
        select_photos(str(photo_dir), "test-b", holdout_every=13)
