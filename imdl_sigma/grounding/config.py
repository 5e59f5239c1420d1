"""GroundingConfig: the grounding models and their settings, light to import (the command line
builds its flags from it without loading torch or torchvision)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass
class GroundingConfig:
    detector: str = "IDEA-Research/grounding-dino-base"  # directory or hub id in the local cache
    sam_config: str = "configs/sam2.1/sam2.1_hiera_s.yaml"  # a config shipped with the sam2 package
    sam_weights: str = ""  # sam2.1_hiera_small.pt
    sam_image_size: int = 1024  # SAM's input side (its configs' value)
    box_threshold: float = 0.30
    text_threshold: float = 0.25
    nms_iou: float = 0.5  # boxes overlapping a higher-scored one by more are dropped (Grounded-SAM's value)
    max_boxes: int = 20  # per image, the highest-scored after thresholds and NMS
    sam_box_chunk: int = 8  # boxes per SAM mask-decoder call
    batch_size: int | None = None  # images per GroundingDINO / SAM image-encoder call; None: by device
    cpu_batch_size: int = 2  # the default on CPU: GroundingDINO-T + SAM 2.1-S peak at 4.7 GiB RSS (8: 6.4)
    gpu_batch_size: int = 8  # the default beside a GPU, whose memory holds the activations

    def for_device(self, device) -> GroundingConfig:
        """This config with `batch_size` chosen by `device` (a torch.device) when it is not set."""
        if self.batch_size is not None:
            return self
        return replace(self, batch_size=self.gpu_batch_size if device.type == "cuda" else self.cpu_batch_size)
