"""Building a run from its Config: data, validation clips, models, losses, optimisers and schedules."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from spectraframe.archs.overparameterise import overparameterise
from spectraframe.archs.rbpn import RBPN, RBPNConfig
from spectraframe.archs.rbpn_int8 import QuantizedRBPN, calibrate_quantizers
from spectraframe.checkpoints import check_compatible, load_generator, load_torch_file, widen_window
from spectraframe.data.train_datasets import TrainingSamples, find_training_clips, split_holdout
from spectraframe.errors import SpectraFrameError
from spectraframe.losses import GeneratorLoss, LossWeights
from spectraframe.models.config import Config

log = logging.getLogger(__name__)


@dataclass
class TrainingData:
    sources: list  # the training clips
    holdout: list  # clips held out of training for validation (data.val_holdout)
    dataset: TrainingSamples
    flow_cache_dir: Path


def build_data(config: Config, rbpn: RBPNConfig, run_dir: Path) -> TrainingData:
    data = config.data
    if data.root is None:
        raise SpectraFrameError("set data.root to the training data folder (e.g. data.root=path/to/clips)")
    # Held-out clips (data.val_holdout) validate and are never trained on.
    sources, holdout = split_holdout(find_training_clips(data.root, data.train_list), data.val_holdout)
    flow_cache_dir = Path(data.flow_cache) if data.flow_cache else run_dir / "flow_cache"
    dataset = TrainingSamples(
        sources, scale=rbpn.scale, num_frames=rbpn.num_frames, lr_patch=data.lr_patch, degradation=data.degradation,
        realworld=config.realworld,
        hflip=data.hflip, vflip=data.vflip, rot90=data.rot90, targets=data.targets, video_stride=data.video_stride,
        flow_method=data.flow_method, flow_cache=flow_cache_dir, flow_cache_bytes=int(data.flow_cache_gb * 1024**3),
        seed=config.train.seed, temporal=config.loss.temporal_weight > 0,
    )
    return TrainingData(sources, holdout, dataset, flow_cache_dir)


def validation_clips(config: Config, holdout: list) -> list:
    """The clips validation scores: the held-out training clips, else val.list (none when val.every is 0)."""
    from spectraframe.data.eval_datasets import EvalClip, load_eval_clips

    if config.val.every == 0:
        return []
    if holdout:
        clips = [EvalClip(name=source.name, frame_paths=list(source.frame_paths)) for source in holdout]
    elif config.val.list is None:
        return []
    else:
        root = Path(config.data.root)
        list_path = Path(config.val.list) if Path(config.val.list).is_absolute() else root / config.val.list
        if not list_path.is_file():
            raise SpectraFrameError(
                f"validation list {list_path} not found: point val.list at a list of clips under data.root, "
                "or turn validation off with val.every=0"
            )
        if re.search(r"(?<![a-z])test", list_path.name.lower()):  # test.txt, sep_testlist.txt
            # best.safetensors is picked by validation PSNR: picking it on the test set inflates test scores.
            log.warning("validating on %s, a test list: best.safetensors is then chosen on the test set and "
                        "its scores there are optimistic; hold out training clips instead with "
                        "data.val_holdout=N val.list=null", list_path.name)
        clips = load_eval_clips(root, list_path)
    return clips[: config.val.max_clips] if config.val.max_clips else clips


def build_generator(config: Config, rbpn: RBPNConfig, *, resuming: bool) -> RBPN:
    """A new RBPN, or with model.init_from (ignored on resume, where the checkpoint wins) those weights; with
    model.overparameterise its 3x3 convolutions get their training-time branches (on resume too: the checkpoint
    holds them); with model.quantize=int8 it is a QuantizedRBPN (int8 fake quantization)."""
    quantized = config.model.quantize == "int8"
    generator = QuantizedRBPN(rbpn) if quantized else RBPN(rbpn)
    if config.model.init_from and not resuming:
        from spectraframe.zoo import resolve_weights

        weights = resolve_weights(config.model.init_from)  # a file, or a shipped weights name such as efficient
        initial, _ = load_generator(weights)
        if initial.config.num_frames < rbpn.num_frames:
            initial = widen_window(initial, rbpn.num_frames, str(weights))
            log.info("generator initialised from %s, widened to %d frames", weights, rbpn.num_frames)
        check_compatible(initial.config, rbpn, str(weights))
        if quantized:
            generator.load_float_weights(initial.state_dict())
            calibrate_on_training_frames(generator, config)
        else:
            generator.load_state_dict(initial.state_dict())
        log.info("generator initialised from %s", weights)
    if config.model.overparameterise:
        overparameterise(generator, config.model.overparameterise)
    return generator


def calibrate_on_training_frames(generator: QuantizedRBPN, config: Config) -> None:
    """The quantizers' ranges from whole frames (the centre window of up to CALIBRATION_CLIPS training clips, as
    `spectraframe export --int8` calibrates, the held-out ones left out), degraded as the validation protocol
    does."""
    from spectraframe.int8 import CALIBRATION_CLIPS, centre_windows

    data = config.data
    sources = split_holdout(find_training_clips(data.root, data.train_list), data.val_holdout)[0]
    windows = centre_windows(sources, min(CALIBRATION_CLIPS, len(sources)), generator.config.num_frames,
                             generator.config.scale, data.flow_method)
    calibrate_quantizers(generator, (w[:3] for w in windows))
    log.info("int8 ranges calibrated on %d training clips", len(windows))


def quantization_source(config: Config) -> dict | None:
    """For a model.quantize run started from weights: the file and SHA-256 of those float weights."""
    if config.model.quantize == "none" or not config.model.init_from:
        return None
    from spectraframe.checkpoints import file_digest
    from spectraframe.zoo import resolve_weights

    weights = resolve_weights(config.model.init_from)
    return {"weights_file": Path(weights).name, "weights_sha256": file_digest(weights)}


def build_loss(config: Config, gan_phase: bool = True) -> GeneratorLoss:
    """The generator loss; without `gan_phase` (a run that stays in the pixel-loss warm-up) no VGG16 is built."""
    loss = config.loss
    return GeneratorLoss(
        LossWeights(loss.pixel_weight, loss.adversarial_weight, loss.perceptual_weight if gan_phase else 0.0,
                    loss.tv_weight, loss.temporal_weight),
        pixel=loss.pixel, gan_form=loss.gan_form, vgg_weights=loss.vgg_weights,
        vgg_imagenet_normalize=loss.vgg_imagenet_normalize, perceptual_layers=tuple(loss.perceptual_layers),
        perceptual_criterion=loss.perceptual_criterion,
        perceptual_layer_weights=(tuple(loss.perceptual_layer_weights)
                                  if loss.perceptual_layer_weights is not None else None),
    )


def amp_dtype(amp: str) -> torch.dtype | None:
    """The autocast dtype of train.amp ("none": None, no autocast)."""
    from spectraframe.accelerate import PRECISIONS

    return None if amp == "none" else PRECISIONS[amp]


def read_training_checkpoint(path: Path, run_dir: Path) -> dict:
    if not path.is_file():
        raise SpectraFrameError(f"cannot resume: {path} not found (was the run started with --out {run_dir}?)")
    checkpoint = load_torch_file(path)
    if not isinstance(checkpoint, dict) or not {"step", "generator", "optimizer_g"} <= set(checkpoint):
        raise SpectraFrameError(f"cannot resume: {path} is not a spectraframe training checkpoint (no step, "
                                "generator and optimiser state)")
    return checkpoint
