"""Stage II: adaptation to real editing corpora without masks (paper Sec. 3.3).

Each optimizer step takes one labeled batch (Stage I data, L_seg) and one unlabeled batch of
editing pairs (x_s, x_e). The unlabeled batch gives three more terms:
- L_cal: x̃_s = VAE roundtrip of x_s; the pair (x_s, x̃_s) must predict nothing (all-zero BCE);
- L_ema: an EMA teacher (decay 0.999) predicts on (x_s, x_e); the student is trained on the
  teacher's confident pixels (p > 0.8 → 1, p < 0.2 → 0);
- L_dis: where the teacher sees an edit, the DRB difference vectors of (x_s, x_e) and of
  (x_s, x̃_s) are pushed apart (supervised contrastive, temperature 0.1).
L = L_seg + λ_cal·L_cal + λ_ema·L_ema + λ_dis·L_dis (λ 0.5 / 0.5 / 0.1). The labeled batch, the
unlabeled pair and its calibration pair go through the model in one call, so DDP sees one forward.
This stage needs its own loop body (a teacher, several losses per step), hence not IMDL-BenCo's
`train_one_epoch`; the loop itself is `loop.TrainRun`, shared with Stage I.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from ..config import SigmaConfig
from ..data.manifest import read_manifest
from ..synth.vae import VaeRoundtrip
from ..errors import BadInputError
from ..model.losses import calibration_loss, disentanglement_loss, pseudo_label_loss, weighted_segmentation_loss
from ..distributed import setup_distributed
from .loop import StepResult, TrainConfig, TrainRun
from .loaders import dataset_args, labeled_pairs, model_inputs, pair_loader, prepare_intent_maps, validation_loader


@dataclass
class Stage2Config:
    lambda_cal: float = 0.5
    lambda_ema: float = 0.5
    lambda_dis: float = 0.1
    ema_decay: float = 0.999
    pseudo_high: float = 0.8  # teacher p above → pseudo-label 1
    pseudo_low: float = 0.2  # teacher p below → pseudo-label 0; in between ignored
    temperature: float = 0.1  # of the disentanglement contrastive loss
    dis_max_vectors: int = 512  # difference vectors per step in L_dis (half edit, half noise)
    epochs: int = 5  # Stage II's TrainConfig.epochs unless --epochs is given


class EmaTeacher:
    """A frozen copy of the student's SigmaNet, moved towards it after every optimizer step."""

    def __init__(self, student: torch.nn.Module, decay: float) -> None:
        self.student, self.decay = student, decay
        self.model = copy.deepcopy(student).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self) -> None:
        for teacher_value, student_value in zip(self.model.state_dict().values(), self.student.state_dict().values()):
            if teacher_value.dtype.is_floating_point:
                teacher_value.lerp_(student_value.detach(), 1 - self.decay)
            else:
                teacher_value.copy_(student_value)

    @torch.no_grad()
    def edit_prob(self, source: torch.Tensor, edited: torch.Tensor, intent_map) -> torch.Tensor:
        return torch.sigmoid(self.model(source, edited, intent_map).logits.float())


def forever(loader):
    """The labeled loader restarted whenever it runs out (itertools.cycle would keep every batch)."""
    while True:
        yield from loader


def normalizer(sigma_config: SigmaConfig, device) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(sigma_config.backbone.mean, device=device).view(1, 3, 1, 1)
    std = torch.tensor(sigma_config.backbone.std, device=device).view(1, 3, 1, 1)
    return mean, std


def concat_levels(differences: list) -> torch.Tensor:
    """[D_1, D_2, D_3], each (B, d, h, w) on one lattice → (B, L·d, h, w): one vector per position."""
    return torch.cat(differences, dim=1)


def train_stage2(train_pairs: str, unlabeled_pairs: list[str], out_dir: str, sigma_config: SigmaConfig,
                 config: TrainConfig, stage2: Stage2Config, vae: VaeRoundtrip | str | None, init: str | None = None,
                 val_pairs: str | None = None, resume: str | None = None, intent_cache: str | None = None,
                 grounder=None, progress: bool = True, architecture: str = "SIGMA") -> Path:
    """`vae`: a synth.vae.VaeRoundtrip, or the folder (or hub id) of one, loaded once the inputs are
    checked (SD 1.5 or SDXL VAE, the one of the corpus's editor); `init`: the Stage I checkpoint to adapt;
    `architecture`: the model's name in IMDL-BenCo's MODELS (SIGMA, or a registered subclass of it)."""
    if not vae:
        raise BadInputError("Stage II's calibration loss needs a Stable Diffusion VAE: pass --vae DIR")
    unlabeled = [pair for manifest in unlabeled_pairs for pair in read_manifest(manifest)]
    if not unlabeled:
        raise BadInputError("Stage II needs unlabeled editing pairs (--unlabeled-pairs MANIFEST)")
    if isinstance(vae, str):
        vae = VaeRoundtrip.from_path(vae, setup_distributed()[2])
    data_args = dataset_args(sigma_config, intent_cache)
    labeled = labeled_pairs(train_pairs)
    coverage = prepare_intent_maps(sigma_config, labeled + unlabeled, val_pairs, data_args, grounder, progress)
    run = TrainRun(out_dir, sigma_config, config, stage=2, progress=progress, architecture=architecture, meta={
        "train_pairs": train_pairs, "unlabeled_pairs": unlabeled_pairs, "init": init, "stage2": asdict(stage2),
        "intent_maps": coverage})
    run.extra_state["intent_maps"] = lambda: coverage
    labeled_loader, labeled_sampler = pair_loader(labeled, sigma_config, config, run.world,
                                                  augment=True, data_args=data_args)
    unlabeled_loader, unlabeled_sampler = pair_loader(unlabeled, sigma_config, config, run.world, augment=True,
                                                      data_args=data_args)
    if init:
        run.load_weights(init)
    teacher = EmaTeacher(run.model.net, stage2.ema_decay)
    run.extra_state["teacher"] = teacher.model.state_dict
    if resume:
        state = run.resume(resume)
        if "teacher" in state:
            teacher.model.load_state_dict(state["teacher"])
    mean, std = normalizer(sigma_config, run.device)
    val_loader = validation_loader(val_pairs, sigma_config, config, data_args)

    def epoch_batches(epoch: int):
        for sampler in (labeled_sampler, unlabeled_sampler):
            if sampler is not None:
                sampler.set_epoch(epoch)
        return zip(forever(labeled_loader), unlabeled_loader)

    def step(batches: tuple[dict, dict]) -> StepResult:
        labeled, unlabeled_batch = batches
        lab = model_inputs(labeled, run.device)
        unl = model_inputs(unlabeled_batch, run.device)
        source, edited, intent = unl["source_image"], unl["image"], unl["intent_map"]
        roundtrip = (vae.tensor(source * std + mean) - mean) / std  # x̃_s, normalised like x_s
        teacher_prob = teacher.edit_prob(source, edited, intent)
        n_lab, n_unl = len(lab["source_image"]), len(source)
        intents = None if intent is None else torch.cat([lab["intent_map"], intent, intent])
        out = run.net(image=torch.cat([lab["image"], edited, roundtrip]),
                      source_image=torch.cat([lab["source_image"], source, source]), intent_map=intents,
                      with_internals=True)
        logits = out["logits"]
        lab_logits, edit_logits, cal_logits = logits.split([n_lab, n_unl, n_unl])
        loss_seg, _ = weighted_segmentation_loss(lab_logits, labeled["mask"].to(run.device).float(),
                                                 config.bce_weight, config.dice_weight)
        loss_cal = calibration_loss(cal_logits)
        loss_ema = pseudo_label_loss(edit_logits, teacher_prob, stage2.pseudo_high, stage2.pseudo_low)
        differences = concat_levels(out["differences"])
        _, edit_diffs, noise_diffs = differences.split([n_lab, n_unl, n_unl])
        support = F.adaptive_avg_pool2d((teacher_prob > stage2.pseudo_high).float(), edit_diffs.shape[-2:]) > 0.5
        loss_dis = disentanglement_loss(edit_diffs, noise_diffs, support, stage2.temperature, stage2.dis_max_vectors)
        loss = (loss_seg + stage2.lambda_cal * loss_cal + stage2.lambda_ema * loss_ema
                + stage2.lambda_dis * loss_dis)
        scalars = {"seg_loss": loss_seg.detach(), "cal_loss": loss_cal.detach(), "ema_loss": loss_ema.detach(),
                   "dis_loss": loss_dis.detach(), "teacher_edit_share": (teacher_prob > stage2.pseudo_high).float().mean()}
        return StepResult(loss, scalars, torch.sigmoid(edit_logits.detach()), None)

    return run.run(epoch_batches, len(unlabeled_loader), step, after_step=teacher.update, val_loader=val_loader)
