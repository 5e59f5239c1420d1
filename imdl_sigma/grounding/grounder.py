"""LangSAM-style grounding: text → boxes (GroundingDINO) → instance masks (SAM 2.1).

As in LangSAM, GroundingDINO is transformers' `GroundingDinoForObjectDetection` (default
IDEA-Research/grounding-dino-base) and SAM 2.1 comes from the `sam2` package
(`build_sam2` + `SAM2ImagePredictor`, default the `small` model). Both are loaded from local
paths only. Detection is batched across pairs; SAM embeds each batch of images once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import MissingWeightsError


@dataclass
class GroundingConfig:
    detector: str = "IDEA-Research/grounding-dino-base"  # directory or hub id in the local cache
    sam_config: str = "configs/sam2.1/sam2.1_hiera_s.yaml"  # a config shipped with the sam2 package
    sam_weights: str = ""  # sam2.1_hiera_small.pt
    sam_image_size: int = 1024  # SAM's input side (its configs' value)
    box_threshold: float = 0.30
    text_threshold: float = 0.25
    batch_size: int = 8


class LangSAMGrounder:
    def __init__(self, detector, processor, sam_predictor, config: GroundingConfig) -> None:
        self.detector = detector.eval()
        self.processor = processor
        self.sam = sam_predictor
        self.config = config

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
        """Boxes (N, 4) in pixel xyxy per image, for its text prompt."""
        texts = [prompt.strip().rstrip(".").lower() + "." for prompt in prompts]  # GroundingDINO's format
        inputs = self.processor(images=list(images), text=texts, return_tensors="pt", padding=True)
        inputs = {k: v.to(self.detector.device) for k, v in inputs.items()}
        outputs = self.detector(**inputs)
        results = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=self.config.box_threshold,
            text_threshold=self.config.text_threshold, target_sizes=[image.shape[:2] for image in images],
        )
        return [r["boxes"].float().cpu().numpy().reshape(-1, 4) for r in results]

    def segment(self, images: list[np.ndarray], boxes: list[np.ndarray]) -> list[np.ndarray]:
        """Instance masks (N, H, W) in {0, 1} per image, one per box."""
        masks = [np.zeros((0, *image.shape[:2]), np.float32) for image in images]
        with_boxes = [i for i, b in enumerate(boxes) if len(b)]
        if not with_boxes:
            return masks
        self.sam.set_image_batch([images[i] for i in with_boxes])
        predicted, _, _ = self.sam.predict_batch(box_batch=[boxes[i] for i in with_boxes], multimask_output=False)
        for i, instance_masks in zip(with_boxes, predicted):
            instance_masks = np.asarray(instance_masks, np.float32)
            masks[i] = instance_masks.reshape(-1, *instance_masks.shape[-2:])  # (N, H, W)
        return masks

    def ground(self, images: list[np.ndarray], prompts: list[str]) -> list[np.ndarray]:
        """(image, concept) jobs → instance masks, batched by `batch_size`."""
        masks = []
        size = self.config.batch_size
        for start in range(0, len(images), size):
            chunk_images, chunk_prompts = images[start:start + size], prompts[start:start + size]
            masks += self.segment(chunk_images, self.detect(chunk_images, chunk_prompts))
        return masks


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
