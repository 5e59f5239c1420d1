"""GroundingDINO (transformers) + SAM 2.1 (sam2) with tiny random configs of the real classes:
the whole instruction branch produces intent maps of the right shape; the cache round-trips."""

import json
import os
import time

import numpy as np
import pytest
import torch

from imdl_sigma.errors import MissingWeightsError
from imdl_sigma.grounding.grounder import GroundingConfig, LangSAMGrounder, build_sam_predictor, select_boxes
from imdl_sigma.grounding.intent import IntentCache, intent_maps

EPS = 0.01
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "the", "cat", "dog", "hat", "person",
         "bird", "colour", "red", "blue", "remove", "add", "replace", "with"]


@pytest.fixture(scope="module")
def tiny_detector_dir(tmp_path_factory):
    """A tiny randomly initialised GroundingDINO saved like a downloaded one."""
    from transformers import (BertTokenizerFast, GroundingDinoForObjectDetection, GroundingDinoImageProcessor,
                              GroundingDinoProcessor)

    from imdl_sigma.grounding.grounder import TINY_DETECTOR_IMAGE_SIZE, tiny_grounding_dino_config

    root = tmp_path_factory.mktemp("dino")
    (root / "vocab.txt").write_text("\n".join(VOCAB))
    processor = GroundingDinoProcessor(GroundingDinoImageProcessor(size=TINY_DETECTOR_IMAGE_SIZE),
                                       BertTokenizerFast(str(root / "vocab.txt")))
    torch.manual_seed(0)
    config = tiny_grounding_dino_config(len(VOCAB))
    GroundingDinoForObjectDetection(config).save_pretrained(root / "model")
    processor.save_pretrained(root / "model")
    return root / "model"


@pytest.fixture(scope="module")
def grounder(tiny_detector_dir):
    from transformers import AutoProcessor, GroundingDinoForObjectDetection

    torch.manual_seed(0)
    # Thresholds 0: a random detector's scores are low, and every stage must run.
    config = GroundingConfig(detector=str(tiny_detector_dir), box_threshold=0.0, text_threshold=0.0, batch_size=4)
    return LangSAMGrounder(
        GroundingDinoForObjectDetection.from_pretrained(tiny_detector_dir, local_files_only=True),
        AutoProcessor.from_pretrained(tiny_detector_dir, local_files_only=True),
        build_sam_predictor("configs/sam2.1/sam2.1_hiera_t.yaml", None, "cpu", image_size=256),
        config,
    )


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (48 + 8 * i, 64, 3), dtype=np.uint8) for i in range(n)]


def test_detect_and_segment_shapes(grounder):
    pictures = images(2)
    boxes = grounder.detect(pictures, ["a cat", "the dog"])
    assert all(b.ndim == 2 and b.shape[1] == 4 and len(b) > 0 for b in boxes)
    masks = grounder.segment(pictures, boxes)
    for picture, box, mask in zip(pictures, boxes, masks):
        assert mask.shape == (len(box), *picture.shape[:2])
        assert set(np.unique(mask)) <= {0.0, 1.0}


def test_whole_branch_gives_intent_maps(grounder):
    parses = [
        {"original": None, "edited": "a hat", "action": "add"},
        {"original": "a cat", "edited": None, "action": "remove"},
        {"original": "cat", "edited": "dog", "action": "replace"},
        {"original": None, "edited": None, "action": "global"},
    ]
    sources, editeds = images(4, 1), images(4, 2)
    maps = intent_maps(grounder, parses, sources, editeds, EPS, map_size=10)
    assert [m.shape for m in maps] == [(10, 10)] * 4
    for m in maps[:3]:
        assert m.min() >= EPS * EPS - 1e-6 and m.max() <= 1 + 1e-6
    assert np.array_equal(maps[3], np.full((10, 10), EPS, np.float32))


def test_missing_weights_name_what_is_missing(tmp_path, tiny_detector_dir):
    with pytest.raises(MissingWeightsError, match="GroundingDINO"):
        LangSAMGrounder.load(GroundingConfig(detector=str(tmp_path / "nothing")))
    with pytest.raises(MissingWeightsError, match="SAM 2.1"):
        LangSAMGrounder.load(GroundingConfig(detector=str(tiny_detector_dir), sam_weights=str(tmp_path / "x.pt")))


def test_ground_job_is_resumable_and_feeds_dataset_and_annotator(grounder, synth_pairs, tmp_path):
    from imdl_sigma.data.datasets import SigmaPairDataset
    from imdl_sigma.data.manifest import read_manifest
    from imdl_sigma.grounding.ground_job import ground_pairs

    manifest = tmp_path / "three.jsonl"
    lines = synth_pairs.read_text().splitlines()[:3]
    records = [json.loads(l) for l in lines]
    for r in records:
        for key in ("source", "edited", "mask"):
            r[key] = str(synth_pairs.parent / r[key])
    manifest.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    cache_dir = tmp_path / "cache"
    first = ground_pairs([str(manifest)], str(cache_dir), grounder, map_size=12, progress=False)
    assert first == {"pairs": 3, "grounded": 3, "cached_before": 0, "errors": 0}
    again = ground_pairs([str(manifest)], str(cache_dir), grounder, map_size=12, progress=False)
    assert again["cached_before"] == 3 and again["grounded"] == 0

    pairs = read_manifest(manifest)  # corpus "synth", as the job keyed them
    cache = IntentCache(cache_dir)
    assert cache.load(pairs[0]).shape == (12, 12)
    sample = SigmaPairDataset(pairs, image_size=56, train=True, intent_cache=cache)[0]
    assert sample["intent_map"].shape == (1, 56, 56)
    # A cache miss gets the uniform ε prior in the dataset; a trainer fills the misses first.
    fresh = IntentCache(tmp_path / "fresh")
    missed = SigmaPairDataset(pairs[:1], image_size=56, intent_cache=fresh, epsilon=EPS)[0]
    assert torch.allclose(missed["intent_map"], torch.full((1, 56, 56), EPS))
    from imdl_sigma.grounding.ground_job import fill_intent_cache

    assert fill_intent_cache(pairs[:1], fresh, grounder, progress=False)["grounded"] == 1 and fresh.has(pairs[0])
    filled = SigmaPairDataset(pairs[:1], image_size=56, intent_cache=fresh)[0]
    assert filled["intent_map"].shape == (1, 56, 56) and not torch.allclose(filled["intent_map"], missed["intent_map"])

    from imdl_sigma.config import SigmaConfig
    from imdl_sigma.model import SigmaNet
    from imdl_sigma.inference.annotator import Annotator

    config = SigmaConfig.preset("tiny")
    annotator = Annotator(SigmaNet(config), config, "random", grounder=grounder)
    mask = annotator.predict(pairs[0].source, pairs[0].edited, "remove the cat")
    assert mask.shape == sample_shape(pairs[0]) and mask.dtype == np.uint8
    assert annotator.provenance["grounding"] == "langsam"


def sample_shape(pair):
    from PIL import Image

    with Image.open(pair.edited) as image:
        return image.size[::-1]


class ProposesEverything(torch.nn.Module):
    """Stands in for GroundingDINO's network only (processor, post-processing, NMS and SAM stay
    real): 900 confident queries, as random full-size weights give, all over the thresholds."""

    queries = 900

    def __init__(self) -> None:
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(()))

    @property
    def device(self):
        return self.anchor.device

    def forward(self, input_ids, pixel_values, **_):
        from transformers.models.grounding_dino.modeling_grounding_dino import GroundingDinoObjectDetectionOutput

        generator = torch.Generator().manual_seed(0)
        batch = pixel_values.shape[0]
        centres = torch.rand(batch, self.queries, 2, generator=generator) * 0.8 + 0.1
        sizes = torch.rand(batch, self.queries, 2, generator=generator) * 0.15 + 0.05
        logits = torch.full((batch, self.queries, 256), -10.0)
        logits[:, :, :input_ids.shape[1]] = 2.0 + torch.rand(batch, self.queries, 1, generator=generator)
        return GroundingDinoObjectDetectionOutput(logits=logits, pred_boxes=torch.cat([centres, sizes], -1))


def peak_rss_growth(fn) -> tuple[object, float]:
    """fn()'s result and how far the resident set grew above its start while it ran (MiB)."""
    import threading

    def rss() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    start, peak, done = rss(), [0.0], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.002)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = fn()
    finally:
        done.set()
        sampler.join()
    return result, max(peak[0], rss()) - start


def test_900_proposals_reach_sam_as_top_k_in_fixed_chunks(tiny_detector_dir, grounder):
    config = GroundingConfig(max_boxes=20, sam_box_chunk=8, batch_size=2)
    bounded = LangSAMGrounder(ProposesEverything(), grounder.processor, grounder.sam, config)
    decoder_boxes = []  # boxes per SAM mask-decoder call
    hook = grounder.sam.model.sam_mask_decoder.register_forward_pre_hook(
        lambda module, args, kwargs: decoder_boxes.append(kwargs["sparse_prompt_embeddings"].shape[0]),
        with_kwargs=True)
    pictures = [np.random.default_rng(i).integers(0, 255, (240, 360, 3), dtype=np.uint8) for i in range(3)]
    try:
        boxes = bounded.detect(pictures[:1], ["a cat"])[0]
        bounded.segment(pictures[:1], [boxes[:2]])  # warm-up: first-call allocations are not the boxes'
        decoder_boxes.clear()
        masks, growth = peak_rss_growth(lambda: bounded.ground(pictures, ["a cat", "the dog", "a hat"]))
    finally:
        hook.remove()
    assert len(boxes) == 20 and (boxes[:, 2:] > boxes[:, :2]).all()
    assert [m.shape for m in masks] == [(20, 240, 360)] * 3 and all(m.dtype == bool for m in masks)
    assert sum(decoder_boxes) == 3 * 20 and max(decoder_boxes) == 8  # only the top k, 8 at a time
    # All 900 boxes of an image in one decoder call would hold > 1 GiB here (the image embedding and
    # high-resolution features repeated per box, masks upsampled to 240 × 360 in float32).
    assert growth < 300, f"resident set grew by {growth:.0f} MiB"


def test_images_per_call_default_by_device(grounder):
    """CPU: 2 images per model call (8 full-size images peak over 6 GiB); a GPU batches 8; a set value stays."""
    assert GroundingConfig().for_device(torch.device("cpu")).batch_size == 2
    assert GroundingConfig().for_device(torch.device("cuda")).batch_size == 8
    assert GroundingConfig(batch_size=5).for_device(torch.device("cuda")).batch_size == 5
    default = LangSAMGrounder(grounder.detector, grounder.processor, grounder.sam, GroundingConfig())
    assert default.config.batch_size == GroundingConfig().cpu_batch_size


def test_nms_then_top_k():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], dtype=torch.float32)
    scores = torch.tensor([0.9, 0.95, 0.5, 0.6])
    assert select_boxes(boxes, scores, iou=0.5, max_boxes=2).tolist() == [[1, 1, 10, 10], [40, 40, 50, 50]]


def test_cli_batch_size_and_max_boxes_reach_the_grounding_config():
    from imdl_sigma.cli.main import build_parser
    from imdl_sigma.cli.options import grounding_config

    for command in (["ground", "--pairs", "p.jsonl", "--out", "c"], ["annotate", "--pairs", "p.jsonl", "--out", "o"],
                    ["bench", "speed", "--pairs", "p.jsonl"]):
        args = build_parser().parse_args(command + ["--grounding-weights", "d", "--sam-weights", "s.pt",
                                                    "--batch-size", "3", "--max-boxes", "5"])
        config = grounding_config(args, required=True)
        assert (config.batch_size, config.max_boxes) == (3, 5), command


def test_bench_speed_times_each_grounding_stage(grounder, synth_pairs):
    from imdl_sigma.bench.speed import grounding_stages
    from imdl_sigma.data.manifest import read_manifest

    report = grounding_stages(read_manifest(str(synth_pairs))[:2], grounder, EPS, batch_size=2)
    assert set(report["s_per_pair_per_stage"]) == {"parse", "detect", "segment", "fuse"}
    assert all(seconds >= 0 for seconds in report["s_per_pair_per_stage"].values())
    assert 0 < report["boxes_to_sam_per_image_max"] <= grounder.config.max_boxes
    assert grounder.detect.__func__ is LangSAMGrounder.detect  # the grounder is left as it was
