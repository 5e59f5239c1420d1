"""`benco finetune`: fine-tune an IMDL-BenCo detector on a (SIGMA-annotated) dataset, score it on
test sets, write results JSON.

Training runs IMDL-BenCo's own `train_one_epoch` on IMDL-BenCo's own datasets (JsonDataset for a
`dataset.json`, ManiDataset for a `Tp/`+`Gt/` folder) with its training augmentation and edge
masks. Two things of that loop are CUDA-only as shipped; on a machine without CUDA they are
bridged while it runs (IMDL-BenCo is not edited): `torch.cuda.synchronize` becomes a no-op, and
AMP is off (there is nothing to scale on a CPU). Under `torchrun` it runs with DDP as upstream.

Scoring: per-image pixel F1 / IoU at threshold 0.5 at the network's input size (test images
resized), averaged per test set — IMDL-BenCo's PixelF1/PixelIOU on images with a non-empty mask
(cross-checked in tests/test_metrics.py); an authentic image with an empty prediction counts 1.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from argparse import Namespace
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from imdl_sigma.data.images import atomic_write_bytes
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
    from imdl_sigma.data.registry import resolve_dataset

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


def benco_dataset(path: Path, train: bool, config: FinetuneConfig, spec):
    from IMDLBenCo.datasets import JsonDataset, ManiDataset
    from IMDLBenCo.registry import POSTFUNCS
    from IMDLBenCo.transforms import get_albu_transforms

    dataset_class = ManiDataset if path.is_dir() else JsonDataset
    post = POSTFUNCS.get(spec.post_func) if spec.post_func else None
    return dataset_class(
        str(path), is_padding=False, is_resizing=True, output_size=(config.image_size, config.image_size),
        common_transforms=get_albu_transforms("train" if train else "test", (config.image_size, config.image_size)),
        edge_width=config.edge_mask_width if spec.edge_mask else None, post_funcs=post,
    )


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


@torch.no_grad()
def evaluate(model, loader, device) -> dict:
    model.eval()
    scores = ScoreAccumulator()
    for batch in loader:
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        out = model(**inputs)
        pred = (out["pred_mask"].float() > 0.5).cpu().numpy()[:, 0]
        truth = batch["mask"].numpy()[:, 0] > 0.5
        for p, t in zip(pred, truth):
            scores.add(p, t)
    model.train()
    return scores.summary()


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

    from imdl_sigma.training.loop import setup_distributed

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
        with cpu_bridge():
            for epoch in range(start_epoch, config.epochs):
                if sampler is not None:
                    sampler.set_epoch(epoch)
                stats = train_one_epoch(net, loader, optimizer, device, epoch, scaler, log_writer=writer, args=args)
                history.append({"epoch": epoch, **{k: float(v) for k, v in stats.items()},
                                "elapsed_s": round(time.time() - started, 1)})
                if rank == 0:
                    save_state(out / "checkpoint-last.pth", model, optimizer, epoch,
                               {"history": history, "detector": model_name, "finetune": asdict(config)})
        if writer is not None:
            writer.close()
    results = {"model": model_name, "registry_name": spec.registry_name, "data": data, "weights": weights or {},
               "random_init": random_init, "config": asdict(config), "history": history, "tests": {}}
    if rank == 0:
        for name, loader in test_loaders.items():
            results["tests"][name] = evaluate(model, loader, device)
        if results["tests"]:
            rows = results["tests"].values()
            results["average"] = {k: sum(r[k] for r in rows) / len(rows) for k in ("f1", "iou")}
        atomic_write_bytes(out / "results.json", json.dumps(results, indent=2).encode())
    return results
