"""`benco finetune`: fine-tune an IMDL-BenCo detector on a (SIGMA-annotated) dataset, score it on
test sets, write results JSON.

Training runs IMDL-BenCo's own `train_one_epoch` on IMDL-BenCo's own datasets (JsonDataset for a
`dataset.json`, ManiDataset for a `Tp/`+`Gt/` folder) with its training augmentation and edge
masks. Two things of that loop are CUDA-only as shipped; on a machine without CUDA they are
bridged while it runs (IMDL-BenCo is not edited): `torch.cuda.synchronize` becomes a no-op, and
AMP is off (there is nothing to scale on a CPU). Under `torchrun` it runs with DDP as upstream.

Scoring: per-image pixel F1 / IoU at threshold 0.5 at the network's input size (test images
resized; CAT-Net's: a centred block-aligned window, see downstream/catnet.py), averaged per test set — IMDL-BenCo's PixelF1/PixelIOU on images with a non-empty mask
(cross-checked in tests/test_metrics.py); an authentic image with an empty prediction counts 1.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import time
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from imdl_sigma.data.atomic import atomic_write_bytes
from imdl_sigma.errors import BadInputError
from imdl_sigma.metrics import ScoreAccumulator

from .detectors import build_detector, detector_spec

log = logging.getLogger(__name__)


@dataclass
class FinetuneConfig:
    epochs: int = 20
    batch_size: int = 4
    lr: float = 0.0  # 0: the detector's default (DetectorSpec.lr)
    min_lr: float = 5e-7
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    accum_iter: int = 1
    image_size: int = 512
    edge_mask_width: int = 7
    num_workers: int = 2
    seed: int = 0
    warmup_start: float = 0.01  # the warm-up ramps the lr from this fraction of it (step 0 trains too)
    eval_every: int = 0  # epochs between scorings of the test sets during training (learning curve); 0: none
    jpeg_quality: int = 95  # CAT-Net: a non-JPEG image is compressed once at this quality for its DCT stream
    # Before scoring a trained model, re-estimate its BatchNorm statistics on this many training
    # batches (PreciseBN); 0: IMDL-BenCo's running averages as trained (momentum 0.01 in the HRNets:
    # a few hundred steps behind the weights)
    precise_bn_batches: int = 0
    amp: bool = True  # on CUDA, for detectors whose spec allows it


def resolve_data(name_or_path: str, scratch: Path) -> Path:
    """A registered dataset name or a path → a dataset.json file or a ManiDataset folder, holding
    at least one image. A pairs manifest (an evaluation set from `benco corpus export`) becomes a
    JsonDataset of its edited images and masks, written under `scratch`."""
    return check_not_empty(locate_data(name_or_path, scratch), name_or_path)


def check_not_empty(path: Path, name: str) -> Path:
    """IMDL-BenCo's datasets fail on an empty image list with a TypeError; say which and why first."""
    if path.is_dir():
        count = sum(1 for item in (path / "Tp").iterdir() if item.is_file())
    else:
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise BadInputError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); an IMDL-BenCo JsonDataset "
                                "is a list of [image, mask] pairs") from None
        if not isinstance(entries, list):
            raise BadInputError(f"{path}: an IMDL-BenCo JsonDataset is a JSON list of [image, mask] pairs")
        count = len(entries)
    if count == 0:
        raise BadInputError(f"dataset '{name}' ({path}) has no image; annotate or export pairs into it first "
                            "(`benco annotate` kept none if its stats.json says so)")
    return path


def locate_data(name_or_path: str, scratch: Path) -> Path:
    from imdl_sigma.data.benco_datasets import write_json_dataset
    from imdl_sigma.data.manifest import read_manifest
    from imdl_sigma.data.dataset_names import resolve_dataset

    path = resolve_dataset(name_or_path)
    if path.is_dir():
        if (path / "dataset.json").is_file():
            return path / "dataset.json"
        if (path / "Tp").is_dir() and (path / "Gt").is_dir():
            return path
        if (path / "pairs.jsonl").is_file():
            path = path / "pairs.jsonl"
        else:
            raise BadInputError(f"{path}: no dataset.json, ManiDataset folder (Tp/, Gt/) or pairs.jsonl")
    if path.suffix == ".jsonl":
        pairs = read_manifest(path)
        converted = scratch / f"{path.parent.name}.dataset.json"
        write_json_dataset(converted, [(p.edited, p.mask) for p in pairs])
        return converted
    if path.suffix != ".json":
        raise BadInputError(f"{path}: expected an IMDL-BenCo dataset JSON or folder, or a pairs manifest")
    return path


def dataset_images(path: Path) -> list[str]:
    """The image files of a resolved dataset (a dataset.json or a ManiDataset folder), as IMDL-BenCo lists them."""
    from IMDLBenCo.datasets import JsonDataset, ManiDataset

    return list((ManiDataset if path.is_dir() else JsonDataset)(str(path), is_resizing=True).tp_path)


def benco_dataset(path: Path, train: bool, config: FinetuneConfig, spec):
    from IMDLBenCo.datasets import JsonDataset, ManiDataset
    from IMDLBenCo.transforms import get_albu_transforms

    dataset_class = ManiDataset if path.is_dir() else JsonDataset
    dataset = dataset_class(
        str(path), is_padding=False, is_resizing=True, output_size=(config.image_size, config.image_size),
        common_transforms=get_albu_transforms("train" if train else "test", (config.image_size, config.image_size)),
        edge_width=config.edge_mask_width if spec.edge_mask else None,
    )
    return spec.input_dataset(dataset, train, config) if spec.input_dataset else dataset


@contextlib.contextmanager
def cpu_bridge():
    """IMDL-BenCo's train_one_epoch calls torch.cuda.synchronize(); without CUDA it is a no-op here."""
    if torch.cuda.is_available():
        yield
        return
    original = torch.cuda.synchronize
    torch.cuda.synchronize = lambda *args, **kwargs: None
    try:
        yield
    finally:
        torch.cuda.synchronize = original


def learning_rate(progress: float, lr: float, config: FinetuneConfig) -> float:
    """The lr after `progress` epochs: a linear warm-up from `warmup_start`·lr to lr over
    `warmup_epochs`, then IMDL-BenCo's half-cycle cosine down to `min_lr`."""
    if progress < config.warmup_epochs:
        return lr * (config.warmup_start + (1.0 - config.warmup_start) * progress / config.warmup_epochs)
    span = max(config.epochs - config.warmup_epochs, 1e-12)
    return config.min_lr + (lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * (progress - config.warmup_epochs) / span))


@contextlib.contextmanager
def warmup_from_start(lr: float, config: FinetuneConfig):
    """IMDL-BenCo's train_one_epoch with `learning_rate` as its schedule: upstream's warm-up starts
    at lr 0, so step 0 (the only step at that lr) trains nothing and a one-epoch warm-up barely trains."""
    from IMDLBenCo.training_scripts.trainer import trainer

    def adjust(optimizer, progress, args):
        value = learning_rate(progress, lr, config)
        for group in optimizer.param_groups:
            group["lr"] = value * group.get("lr_scale", 1.0)
        return value

    original = trainer.adjust_learning_rate
    trainer.adjust_learning_rate = adjust
    try:
        yield
    finally:
        trainer.adjust_learning_rate = original


@torch.no_grad()
def recalibrate_batchnorm(model, loader, device, batches: int) -> None:
    """PreciseBN (Wu & Johnson 2021): every BatchNorm's running mean and variance become the plain
    average over `batches` training batches, computed with the current weights (train-mode
    forward, no gradient); the weights are untouched."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.train()
    for _, batch in zip(range(batches), loader):
        model(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()})
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum


@torch.no_grad()
def evaluate(model, loader, device) -> dict:
    """Pixel F1 / IoU at 0.5, plus the range of the predicted probabilities and whether the
    thresholded prediction is the same at every pixel of every image (`constant_prediction`)."""
    model.eval()
    scores = ScoreAccumulator()
    low, high, predicted_any, predicted_all = math.inf, -math.inf, False, True
    for batch in loader:
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        probs = model(**inputs)["pred_mask"].float().cpu()
        low, high = min(low, probs.min().item()), max(high, probs.max().item())
        pred = (probs > 0.5).numpy()[:, 0]
        predicted_any, predicted_all = predicted_any or bool(pred.any()), predicted_all and bool(pred.all())
        truth = batch["mask"].numpy()[:, 0] > 0.5
        for p, t in zip(pred, truth):
            scores.add(p, t)
    model.train()
    return {**scores.summary(), "prob_range": [low, high], "constant_prediction": predicted_all or not predicted_any}


def constant_warnings(model_name: str, tests: dict) -> list[str]:
    return [f"{model_name} predicts {'everything' if row['prob_range'][0] > 0.5 else 'nothing'} on every image "
            f"of {name} (probabilities {row['prob_range'][0]:.4f}-{row['prob_range'][1]:.4f}): it has not "
            "trained enough for this score to mean anything" for name, row in tests.items() if row["constant_prediction"]]


def save_state(path: Path, model, optimizer, epoch: int, meta: dict) -> None:
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, **meta}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def finetune(model_name: str, data: str | None, tests: dict[str, str], out_dir: str, config: FinetuneConfig,
             weights: dict | None = None, random_init: bool = False, resume: str | None = None,
             tiny: bool = False, progress: bool = True) -> dict:
    """Fine-tune `model_name` on `data` (None: score the public weights only), score every test
    set; writes OUT/results.json and OUT/checkpoint-last.pth ({'model': state_dict, ...} as
    IMDL-BenCo's test.py reads it)."""
    from torch.utils.data import DataLoader
    from torch.utils.tensorboard import SummaryWriter

    from imdl_sigma.distributed import setup_distributed

    spec = detector_spec(model_name)
    rank, world, device = setup_distributed()
    torch.manual_seed(config.seed + rank)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # Datasets first: an empty or missing one fails before IMDL-BenCo is imported (slow) and the detector built.
    train_path = resolve_data(data, out) if data is not None else None
    test_paths = {name: resolve_data(path, out) for name, path in tests.items()}
    from IMDLBenCo.training_scripts.trainer.trainer import train_one_epoch
    from IMDLBenCo.training_scripts.utils import misc

    model = build_detector(model_name, weights, config.image_size, random_init=random_init, tiny=tiny).to(device)
    test_loaders = {name: DataLoader(benco_dataset(path, False, config, spec),
                                     batch_size=config.batch_size, num_workers=config.num_workers)
                    for name, path in test_paths.items()}
    lr = config.lr or spec.lr
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr,
                                  weight_decay=config.weight_decay)
    history, start_epoch = [], 0
    if resume:
        state = torch.load(resume, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, history = state["epoch"] + 1, state.get("history", [])
    started = time.time()
    if data is not None:
        train_set = benco_dataset(train_path, True, config, spec)
        sampler = torch.utils.data.DistributedSampler(train_set, shuffle=True) if world > 1 else None
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                            num_workers=config.num_workers, drop_last=len(train_set) > config.batch_size)
        net = model if world == 1 else torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True)
        amp = config.amp and spec.amp and device.type == "cuda"
        args = Namespace(if_not_amp=not amp, accum_iter=config.accum_iter, if_predict_label=False, lr=lr,
                         min_lr=config.min_lr, warmup_epochs=config.warmup_epochs, epochs=config.epochs)
        writer = SummaryWriter(str(out / "tensorboard")) if rank == 0 else None
        scaler = misc.NativeScalerWithGradNormCount()
        with cpu_bridge(), warmup_from_start(lr, config):
            for epoch in range(start_epoch, config.epochs):
                if sampler is not None:
                    sampler.set_epoch(epoch)
                stats = train_one_epoch(net, loader, optimizer, device, epoch, scaler, log_writer=writer, args=args)
                history.append({"epoch": epoch, "steps": (epoch + 1) * len(loader),
                                **{k: float(v) for k, v in stats.items()}, "elapsed_s": round(time.time() - started, 1)})
                if config.precise_bn_batches and (epoch + 1 == config.epochs or
                                                  config.eval_every and (epoch + 1) % config.eval_every == 0):
                    recalibrate_batchnorm(model, loader, device, config.precise_bn_batches)
                if rank == 0 and config.eval_every and (epoch + 1) % config.eval_every == 0:
                    history[-1]["tests"] = {name: evaluate(model, test_loader, device)
                                            for name, test_loader in test_loaders.items()}
                if rank == 0:
                    save_state(out / "checkpoint-last.pth", model, optimizer, epoch,
                               {"history": history, "detector": model_name, "finetune": asdict(config)})
        if writer is not None:
            writer.close()
    results = {"model": model_name, "registry_name": spec.registry_name, "data": data, "weights": weights or {},
               "random_init": random_init, "config": asdict(config), "history": history,
               "steps": history[-1]["steps"] if history else 0, "tests": {}}
    if rank == 0:
        scored = history[-1].get("tests", {}) if history else {}  # the last epoch's scoring: the same weights
        for name, loader in test_loaders.items():
            results["tests"][name] = scored.get(name) or evaluate(model, loader, device)
        if results["tests"]:
            rows = results["tests"].values()
            results["average"] = {k: sum(r[k] for r in rows) / len(rows) for k in ("f1", "iou")}
        results["warnings"] = constant_warnings(model_name, results["tests"])
        for warning in results["warnings"]:
            log.warning(warning)
        atomic_write_bytes(out / "results.json", json.dumps(results, indent=2).encode())
    return results
