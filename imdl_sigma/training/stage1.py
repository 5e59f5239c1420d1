"""Stage I: supervised training on pairs with exact masks (L_seg = BCE + Dice).

The model is built through IMDL-BenCo's MODELS registry and trained through its forward
contract (`backward_loss`, `pred_mask`, `visual_loss`). The loop is our own rather than
IMDL-BenCo's `train_one_epoch` because SIGMA's samples carry a second image and an intent map,
and IMDL-BenCo's shipped loop hard-codes CUDA/NCCL (see README, "Training"). It runs on one
CPU process or under `torchrun` (DDP, gloo on CPU, nccl on GPU).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

from ..config import SigmaConfig
from ..data.datasets import SigmaPairDataset
from ..data.manifest import read_manifest
from ..metrics import ScoreAccumulator
from .checkpoint import load_checkpoint, save_checkpoint

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


def cosine_lr(step: int, total: int, config: TrainConfig) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * progress))


def build_model(config_path: Path, train_config: TrainConfig):
    """SIGMA through IMDL-BenCo's registry, from a config JSON (as IMDL-BenCo's train.py would)."""
    import registry  # noqa: F401  (importing it registers SIGMA into IMDL-BenCo)
    from IMDLBenCo.registry import MODELS

    return MODELS.get("SIGMA")(config=str(config_path), bce_weight=train_config.bce_weight,
                               dice_weight=train_config.dice_weight)


def setup_distributed() -> tuple[int, int, torch.device]:
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


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


def train_stage1(train_pairs: str, out_dir: str, sigma_config: SigmaConfig, config: TrainConfig,
                 val_pairs: str | None = None, resume: str | None = None, intent_cache: str | None = None,
                 grounder=None, progress: bool = True) -> Path:
    """`intent_cache`: a `benco ground` folder (pairs missing from it are grounded on the fly
    when `grounder` is given); without one the intent map is the ε prior and the checkpoint
    says `grounding: none`."""
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    rank, world, device = setup_distributed()
    torch.manual_seed(config.seed + rank)
    np.random.seed(config.seed + rank)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    backbone = sigma_config.backbone
    cache = None
    if intent_cache:
        from ..grounding.intent import IntentCache

        cache = IntentCache(intent_cache)
        sigma_config.grounding = "langsam"
    data_args = dict(mean=backbone.mean, std=backbone.std, intent_cache=cache, epsilon=sigma_config.instruction.epsilon,
                     grounder=grounder)
    pairs = [p for p in read_manifest(train_pairs) if p.mask is not None]
    if not pairs:
        raise ValueError(f"{train_pairs} has no pair with a mask: Stage I needs exact masks")
    train_set = SigmaPairDataset(pairs, backbone.image_size, train=True, crop_scale=config.crop_scale, **data_args)
    sampler = DistributedSampler(train_set, shuffle=True, seed=config.seed) if world > 1 else None
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=config.num_workers, drop_last=len(train_set) > config.batch_size,
                        persistent_workers=config.num_workers > 0)
    val_loader = None
    if val_pairs:
        val_set = SigmaPairDataset(val_pairs, backbone.image_size, train=False, **data_args)
        val_loader = DataLoader(val_set, batch_size=config.batch_size, num_workers=config.num_workers)

    config_path = out / "sigma_config.json"
    if rank == 0:
        sigma_config.to_json(config_path)
    if dist.is_initialized():
        dist.barrier()
    model = build_model(config_path, config).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, betas=tuple(config.betas), weight_decay=config.weight_decay)
    steps_per_epoch = max(1, len(loader) // config.grad_accum)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    step, start_epoch = 0, 0
    if resume:
        state = load_checkpoint(resume)
        model.net.load_state_dict(state["model"], strict=False)
        optimizer.load_state_dict(state["optimizer"])
        step, start_epoch = state["step"], state["epoch"]
        log.info("resumed from %s at step %d (epoch %d)", resume, step, start_epoch)

    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    writer = SummaryWriter(str(out / "tensorboard")) if rank == 0 else None
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=config.bf16 and device.type == "cuda")
    run_meta = {"sigma_config": sigma_config.to_dict(), "train_config": asdict(config), "train_pairs": train_pairs}
    if rank == 0:
        (out / "run.json").write_text(json.dumps(run_meta, indent=2))

    def checkpoint(name: str, epoch: int) -> None:
        if rank == 0:
            save_checkpoint(out / name, model.net, sigma_config, optimizer=optimizer.state_dict(), step=step,
                            epoch=epoch, train_config=asdict(config), stage=1)

    model.train()
    bar = tqdm(total=total_steps, initial=step, desc="stage I", unit="step", disable=not progress or rank != 0)
    started, first_step = time.time(), step
    done = step >= total_steps
    epoch = start_epoch
    while not done:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for micro, batch in enumerate(loader):
            with autocast:
                intent = batch.get("intent_map")
                result = net(image=batch["image"].to(device), mask=batch["mask"].to(device),
                             source_image=batch["source_image"].to(device),
                             intent_map=None if intent is None else intent.to(device))
            (result["backward_loss"] / config.grad_accum).backward()
            if (micro + 1) % config.grad_accum:
                continue
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total_steps, config)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            bar.update()
            if writer is not None:
                for name, value in result["visual_loss"].items():
                    writer.add_scalar(f"train/{name}", float(value), step)
                writer.add_scalar("train/lr", optimizer.param_groups[0]["lr"], step)
                writer.add_scalar("train/sec_per_step", (time.time() - started) / max(1, step - first_step), step)
                if step % config.log_images_every == 0:
                    writer.add_images("train/pred_mask", result["pred_mask"][:4].float().detach().cpu(), step)
                    writer.add_images("train/true_mask", batch["mask"][:4], step)
            loss_value = float(result["backward_loss"].detach())
            bar.set_postfix(loss=f"{loss_value:.4f}")
            if rank == 0:
                with (out / "train_log.jsonl").open("a") as handle:
                    handle.write(json.dumps({"step": step, "loss": loss_value,
                                             "lr": optimizer.param_groups[0]["lr"],
                                             "elapsed_s": round(time.time() - started, 2)}) + "\n")
            if step % config.save_every_steps == 0:
                checkpoint("last.pt", epoch)
            if step >= total_steps:
                done = True
                break
        epoch += 1
        if val_loader is not None and rank == 0 and (epoch % config.eval_every == 0 or done):
            scores = evaluate(model, val_loader, device, sigma_config.mask_threshold)
            log.info("epoch %d: val F1 %.2f IoU %.2f", epoch, scores["f1"], scores["iou"])
            if writer is not None:
                writer.add_scalar("val/f1", scores["f1"], step)
                writer.add_scalar("val/iou", scores["iou"], step)
        checkpoint("last.pt", epoch)
    bar.close()
    if writer is not None:
        writer.close()
    if dist.is_initialized():
        dist.barrier()
    return out / "last.pt"
