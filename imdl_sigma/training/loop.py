"""What every training run shares: distributed set-up, the model built by its name in IMDL-BenCo's
MODELS as IMDL-BenCo's train.py builds a registered one (config JSON path, loss weights), AdamW +
warm-up/cosine schedule, gradient accumulation, bf16 autocast on GPU, checkpoints with optimizer
and step, `--resume`, TensorBoard scalars and mask images, a JSONL log and a progress bar. A stage
supplies the batches and a `step_fn(batch) -> StepResult`.

The loop is our own rather than IMDL-BenCo's `train_one_epoch` because SIGMA's samples carry a
second image and an intent map, Stage II needs a teacher and several losses per step, and
IMDL-BenCo's shipped loop hard-codes CUDA/NCCL (see README, "Training"). It runs on one CPU
process or under `torchrun` (DDP, gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
import torch.distributed as dist

from ..config import ConfigFile
from ..distributed import setup_distributed
from ..errors import BadInputError
from ..metrics import ScoreAccumulator
from ..model.checkpoint import apply_weights, load_checkpoint, save_checkpoint
from ..model.registered import registered_model

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4
    min_lr: float = 1e-6
    betas: tuple = (0.9, 0.999)
    weight_decay: float = 0.05
    warmup_steps: int = 100
    grad_accum: int = 1
    max_steps: int = 0  # > 0: stop after this many optimizer steps (smoke runs, time-boxed runs)
    bf16: bool = True  # autocast on CUDA only
    num_workers: int = 2
    seed: int = 0
    crop_scale: tuple = (0.5, 1.0)
    eval_every: int = 1  # epochs
    save_every_steps: int = 200
    log_images_every: int = 200
    bce_weight: float = 1.0
    dice_weight: float = 1.0
    extra: dict = field(default_factory=dict)


@dataclass
class StepResult:
    loss: torch.Tensor  # what is back-propagated (already weighted)
    scalars: dict  # name → float, logged every step
    pred_mask: torch.Tensor | None = None  # (B, 1, H, W) probabilities, for TensorBoard images
    true_mask: torch.Tensor | None = None


def cosine_lr(step: int, total: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, loader, device, threshold: float) -> dict:
    """Per-image pixel F1 / IoU (percent) at the network's input size."""
    model.eval()
    scores = ScoreAccumulator()
    for batch in loader:
        intent = batch.get("intent_map")
        out = model(image=batch["image"].to(device), source_image=batch["source_image"].to(device),
                    intent_map=None if intent is None else intent.to(device))
        pred = (out["pred_mask"] > threshold).cpu().numpy()[:, 0]
        for p, t in zip(pred, batch["mask"].numpy()[:, 0] > 0.5):
            scores.add(p, t)
    model.train()
    return scores.summary()


class TrainRun:
    """One training run in `out_dir` of the model registered as `architecture` in IMDL-BenCo's MODELS
    (SIGMA by default; the registering module, e.g. `registry`, is imported first). The model follows
    IMDL-BenCo's contract, takes `config` (the path of `model_config` as JSON), `bce_weight` and
    `dice_weight`, and keeps its network as `.net` (what checkpoints hold); `stage` and
    `architecture` are recorded in checkpoints and logs."""

    def __init__(self, out_dir: str | Path, model_config: ConfigFile, config: TrainConfig, stage: int,
                 meta: dict, progress: bool = True, architecture: str = "SIGMA") -> None:
        model_class = registered_model(architecture)  # an unknown name fails before the run folder is made
        self.progress = progress
        self.rank, self.world, self.device = setup_distributed()
        # albumentations draws its augmentations from `random`: seeded too, so a run without
        # loader workers repeats exactly (workers are seeded by the DataLoader).
        random.seed(config.seed + self.rank)
        torch.manual_seed(config.seed + self.rank)
        np.random.seed(config.seed + self.rank)
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.model_config, self.config, self.stage = model_config, config, stage
        self.architecture = architecture
        config_path = self.out / "model_config.json"
        if self.rank == 0:
            model_config.to_json(config_path)
            run_meta = {"stage": stage, "architecture": architecture, "model_config": model_config.to_dict(),
                        "train_config": asdict(config), **meta}
            (self.out / "run.json").write_text(json.dumps(run_meta, indent=2))
        if dist.is_initialized():
            dist.barrier()
        # Built as IMDL-BenCo's train.py builds a registered model: from the config JSON's path.
        self.model = model_class(config=str(config_path), bce_weight=config.bce_weight,
                                 dice_weight=config.dice_weight).to(self.device)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.lr, betas=tuple(config.betas),
                                           weight_decay=config.weight_decay)
        self.net = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self.step, self.epoch = 0, 0
        self.extra_state: dict[str, Callable[[], dict]] = {}  # name → state_dict getter (e.g. a teacher)
        self.autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.bf16 and self.device.type == "cuda")

    def load_weights(self, path: str | Path) -> None:
        """Start from a checkpoint's weights only (Stage II starts from a Stage I checkpoint).
        Modules this config switches on and the checkpoint's did not (e.g. pixel evidence) start
        from their initialisation; any other key that does not apply is refused."""
        payload = load_checkpoint(path, architecture=self.architecture)
        try:
            previous = type(self.model_config).from_dict(payload["config"])
        except (KeyError, TypeError) as err:
            raise BadInputError(f"checkpoint {path}: its config does not read as {type(self.model_config).__name__} "
                                f"({err})") from None
        apply_weights(self.model.net, payload, self.model_config, path,
                      fresh=self.model_config.modules_added_since(previous))

    def resume(self, path: str | Path) -> dict:
        state = load_checkpoint(path, architecture=self.architecture)
        apply_weights(self.model.net, state, self.model_config, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.step, self.epoch = state["step"], state["epoch"]
        log.info("resumed from %s at step %d (epoch %d)", path, self.step, self.epoch)
        return state

    def save(self, name: str = "last.pt") -> None:
        if self.rank == 0:
            extra = {key: getter() for key, getter in self.extra_state.items()}
            save_checkpoint(self.out / name, self.model.net, self.model_config, optimizer=self.optimizer.state_dict(),
                            step=self.step, epoch=self.epoch, train_config=asdict(self.config), stage=self.stage,
                            architecture=self.architecture, **extra)

    def run(self, epoch_batches: Callable[[int], Iterable], steps_per_epoch: int,
            step_fn: Callable[[dict], StepResult], after_step: Callable[[], None] | None = None,
            val_loader=None) -> Path:
        """Train until max_steps or the last epoch; `epoch_batches(epoch)` yields micro-batches."""
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        config = self.config
        total_steps = config.max_steps or max(1, steps_per_epoch // config.grad_accum) * config.epochs
        writer = SummaryWriter(str(self.out / "tensorboard")) if self.rank == 0 else None
        bar = tqdm(total=total_steps, initial=self.step, desc=f"stage {'I' * self.stage}", unit="step",
                   disable=not self.progress or self.rank != 0)
        started, first_step = time.time(), self.step
        self.model.train()
        done = self.step >= total_steps
        while not done:
            for micro, batch in enumerate(epoch_batches(self.epoch)):
                with self.autocast:
                    result = step_fn(batch)
                (result.loss / config.grad_accum).backward()
                if (micro + 1) % config.grad_accum:
                    continue
                for group in self.optimizer.param_groups:
                    group["lr"] = cosine_lr(self.step, total_steps, config)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                if after_step is not None:
                    after_step()
                self.step += 1
                bar.update()
                bar.set_postfix(loss=f"{float(result.loss.detach()):.4f}")
                self._log_step(writer, result, started, first_step)
                if self.step % config.save_every_steps == 0:
                    self.save()
                if self.step >= total_steps:
                    done = True
                    break
            self.epoch += 1
            if val_loader is not None and self.rank == 0 and (self.epoch % config.eval_every == 0 or done):
                scores = evaluate(self.model, val_loader, self.device, self.model_config.mask_threshold)
                log.info("epoch %d: val F1 %.2f IoU %.2f", self.epoch, scores["f1"], scores["iou"])
                if writer is not None:
                    writer.add_scalar("val/f1", scores["f1"], self.step)
                    writer.add_scalar("val/iou", scores["iou"], self.step)
            self.save()
        bar.close()
        if writer is not None:
            writer.close()
        if dist.is_initialized():
            dist.barrier()
        return self.out / "last.pt"

    def _log_step(self, writer, result: StepResult, started: float, first_step: int) -> None:
        if self.rank != 0:
            return
        lr = self.optimizer.param_groups[0]["lr"]
        elapsed = time.time() - started
        scalars = {"loss": float(result.loss.detach()), **{k: float(v) for k, v in result.scalars.items()}}
        for name, value in scalars.items():
            writer.add_scalar(f"train/{name}", value, self.step)
        writer.add_scalar("train/lr", lr, self.step)
        writer.add_scalar("train/sec_per_step", elapsed / max(1, self.step - first_step), self.step)
        if result.pred_mask is not None and self.step % self.config.log_images_every == 0:
            writer.add_images("train/pred_mask", result.pred_mask[:4].float().detach().cpu(), self.step)
            if result.true_mask is not None:
                writer.add_images("train/true_mask", result.true_mask[:4].float().cpu(), self.step)
        with (self.out / "train_log.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": self.step, **scalars, "lr": lr, "elapsed_s": round(elapsed, 2)}) + "\n")
