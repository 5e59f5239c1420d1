"""LangSAM-style grounding: text → boxes (GroundingDINO) → instance masks (SAM 2.1).

As in LangSAM, GroundingDINO is transformers' `GroundingDinoForObjectDetection` (default
IDEA-Research/grounding-dino-base) and SAM 2.1 comes from the `sam2` package
(`build_sam2` + `SAM2ImagePredictor`, default the `small` model). Both are loaded from local
paths only.

Memory is bounded whatever the detector proposes (a random or badly prompted detector passes
most of its 900 queries over the box threshold): images go through both models `batch_size` at
a time (by default 2 on CPU, where 8 images of 800 px peak at 6.4 GiB, and 8 beside a GPU),
GroundingDINO at its processor's size (shorter side 800 for the published checkpoints); each
image keeps at most `max_boxes` boxes after the thresholds and box NMS, and SAM's mask decoder,
which repeats the image embedding once per box, sees `sam_box_chunk` boxes per call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.ops import nms

from ..errors import MissingWeightsError
from .config import GroundingConfig


# The toy detector's image processor size (pixels): small enough for CPU tests.
TINY_DETECTOR_IMAGE_SIZE = {"shortest_edge": 128, "longest_edge": 192}


def tiny_grounding_dino_config(vocab_size: int):
    """GroundingDINO's architecture at toy width (Swin 16 wide, a one-layer BERT 32 wide, six
    queries), to be randomly initialised: the tests' and the device check's stand-in detector
    (no weights can be downloaded here)."""
    from transformers import BertConfig, GroundingDinoConfig, SwinConfig

    return GroundingDinoConfig(
        backbone_config=SwinConfig(embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1], window_size=4,
                                   out_indices=[2, 3, 4], image_size=64),
        text_config=BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64),
        d_model=32, encoder_layers=1, decoder_layers=2, num_queries=6, encoder_ffn_dim=64, decoder_ffn_dim=64,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_n_points=2, decoder_n_points=2,
        max_text_len=16,
    )


def select_boxes(boxes: torch.Tensor, scores: torch.Tensor, iou: float, max_boxes: int) -> torch.Tensor:
    """(N, 4) xyxy boxes and their (N,) scores → (≤ max_boxes, 4): NMS, then the top scores."""
    keep = nms(boxes.float(), scores.float(), iou)[:max_boxes]  # indices by decreasing score
    return boxes[keep]


class LangSAMGrounder:
    def __init__(self, detector, processor, sam_predictor, config: GroundingConfig) -> None:
        self.detector = detector.eval()
        self.processor = processor
        self.sam = sam_predictor
        self.config = config.for_device(self.detector.device)

    @classmethod
    def load(cls, config: GroundingConfig, device: str = "cpu") -> "LangSAMGrounder":
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        try:
            processor = AutoProcessor.from_pretrained(config.detector, local_files_only=True)
            detector = GroundingDinoForObjectDetection.from_pretrained(config.detector, local_files_only=True)
        except (OSError, ValueError) as err:
            raise MissingWeightsError(
                f"GroundingDINO weights '{config.detector}' not found locally ({err.__class__.__name__}). "
                "Download them where there is internet (`huggingface-cli download "
                "IDEA-Research/grounding-dino-base --local-dir DIR`) and pass --grounding-weights DIR."
            ) from None
        if not config.sam_weights or not Path(config.sam_weights).is_file():
            raise MissingWeightsError(
                f"SAM 2.1 checkpoint not found ('{config.sam_weights}'). Download sam2.1_hiera_small.pt "
                "from the SAM 2 release where there is internet and pass --sam-weights FILE."
            )
        sam = build_sam_predictor(config.sam_config, config.sam_weights, device, config.sam_image_size)
        return cls(detector.to(device), processor, sam, config)

    @torch.no_grad()
    def detect(self, images: list[np.ndarray], prompts: list[str]) -> list[np.ndarray]:
        """Boxes (≤ max_boxes, 4) in pixel xyxy per image, for its text prompt, best first."""
        texts = [prompt.strip().rstrip(".").lower() + "." for prompt in prompts]  # GroundingDINO's format
        inputs = self.processor(images=list(images), text=texts, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.detector.device) for k, v in inputs.items()}
        outputs = self.detector(**inputs)
        results = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=self.config.box_threshold,
            text_threshold=self.config.text_threshold, target_sizes=[image.shape[:2] for image in images],
        )
        return [select_boxes(r["boxes"], r["scores"], self.config.nms_iou, self.config.max_boxes).cpu().numpy()
                .reshape(-1, 4) for r in results]

    @torch.no_grad()
    def segment(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Instance masks (N, H, W) bool per image, one per box."""
        masks = [np.zeros((0, *image.shape[:2]), bool) for image in images]
        with_boxes = [i for i, b in enumerate(boxes) if len(b)]
        if not with_boxes:
            return masks
        self.sam.set_image_batch([images[i] for i in with_boxes])
        chunk = self.config.sam_box_chunk
        for index, i in enumerate(with_boxes):
            masks[i] = np.concatenate([predict_box_masks(self.sam, index, boxes[i][start:start + chunk])
                                       for start in range(0, len(boxes[i]), chunk)])
        self.sam.reset_predictor()  # frees the batch's image embeddings
        return masks

    def ground(self, images: list[np.ndarray], prompts: list[str]) -> list[np.ndarray]:
        """(image, concept) jobs → instance masks, `batch_size` images per model call."""
        masks = []
        size = self.config.batch_size
        for start in range(0, len(images), size):
            chunk_images, chunk_prompts = images[start:start + size], prompts[start:start + size]
            masks += self.segment(chunk_images, self.detect(chunk_images, chunk_prompts))
        return masks


def predict_box_masks(predictor, image_index: int, boxes: np.ndarray) -> np.ndarray:
    """(N, 4) pixel xyxy boxes on image `image_index` of the predictor's batch → (N, H, W) bool.

    The per-image body of sam2 1.1.0's `SAM2ImagePredictor.predict_batch` (same calls), for a
    subset of an image's boxes: `predict_batch` decodes every box of an image in one call.
    """
    _, _, _, box = predictor._prep_prompts(None, None, boxes, None, True, img_idx=image_index)
    masks, _, _ = predictor._predict(None, None, box, None, multimask_output=False, img_idx=image_index)
    return masks[:, 0].cpu().numpy()  # (N, 1, H, W) → (N, H, W)


def build_sam_predictor(config_file: str, weights: str | None, device: str, image_size: int = 1024):
    """SAM 2.1 image predictor from the sam2 package (weights None = random init, for tests).

    `image_size` other than 1024 (tests use 256 for speed) also sets the predictor's backbone
    feature sizes, which sam2 keeps for 1024 px inputs.
    """
    try:
        from sam2.build_sam import build_sam2
        from sam2.sam2_image_predictor import SAM2ImagePredictor
    except ImportError:
        raise MissingWeightsError(
            "the sam2 package is not installed: SAM2_BUILD_CUDA=0 pip install --no-build-isolation "
            "-c constraints.txt -e '.[grounding]'"
        ) from None
    overrides = [] if image_size == 1024 else [f"++model.image_size={image_size}"]
    predictor = SAM2ImagePredictor(build_sam2(config_file, weights or None, device=device,
                                              hydra_overrides_extra=overrides))
    predictor._bb_feat_sizes = [(image_size // stride,) * 2 for stride in (4, 8, 16)]
    return predictor
