"""Training configuration: nested dataclasses with every knob, YAML files, presets and `a.b=value` overrides.

A config is resolved in this order: the defaults below, then a YAML file or a shipped preset
(`spectraframe/configs/<name>.yaml`), then command-line overrides such as `train.lr=2e-4`. Unknown
keys are errors (a typo must not silently train with a default). The resolved config is saved as
`config.yaml` in the run folder, which is what `--resume` reads back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from spectraframe.archs.rbpn import PRESETS, RBPNConfig
from spectraframe.archs.vgg import LAYER_NAMES as VGG_LAYERS
from spectraframe.cli_numbers import INT_MAX
from spectraframe.degradation.realworld import RealWorldConfig
from spectraframe.degradation.steps import parse_degradation
from spectraframe.errors import SpectraFrameError, did_you_mean
from spectraframe.flow.api import DEFAULT_FLOW_METHOD
from spectraframe.losses import GAN_FORMS, PERCEPTUAL_CRITERIA, PIXEL_LOSSES
from spectraframe.models.run_presets import preset_names
from spectraframe.paths import atomic_write, require_file

TRAINING_DEGRADATIONS = ("bi", "bd", "realworld")


# The model section's keys that are not RBPNConfig fields.
NOT_ARCHITECTURE = ("preset", "init_from", "discriminator_from", "overparameterise", "quantize")


def _model_rbpn_config(self) -> RBPNConfig:
    """The generator's architecture: the preset's (or the defaults), with the explicit fields on top."""
    base = RBPNConfig()
    if self.preset is not None:
        if self.preset not in PRESETS:
            raise SpectraFrameError(f"unknown model.preset {self.preset!r}: choose one of {', '.join(PRESETS)}")
        base = PRESETS[self.preset]
    explicit = {k: v for k, v in dataclasses.asdict(self).items()
                if k not in NOT_ARCHITECTURE and v is not None}
    try:
        return RBPNConfig.from_dict({**base.to_dict(), **explicit})
    except SpectraFrameError as exc:
        raise SpectraFrameError(f"invalid model config: {exc}") from exc


# The generator: a named RBPN preset (`preset`) and/or explicit fields, which win. The explicit fields are
# RBPNConfig's own (scale, num_frames, ..., layout), each optional here: a new architecture field is one edit,
# in archs/rbpn.py. `init_from`: generator weights (our .safetensors or a published .pth, or a shipped weights name
# such as `efficient`, found inside the installed package) that start a new run, e.g. the GAN fine-tune of a
# pixel-loss model; ignored on --resume, where the run's own checkpoint wins.
# `discriminator_from`: the discriminator.safetensors of an earlier GAN run (also ignored on --resume), so a run
# that continues one from its exported weights (its 60+ MB checkpoint not kept) does not restart D from scratch.
# `overparameterise`: train every 3x3 convolution with an expand-squeeze branch this many times as wide, fused into
# a plain RBPN of the same shape and speed when exported (archs/overparameterise.py); 0: off.
# `quantize`: "int8" trains with int8 fake quantization (quantization-aware training, archs/rbpn_int8.py), usually
# briefly from `init_from`; `spectraframe export --int8` then writes the run's weights as the OpenVINO int8 model.
QUANTIZE_CHOICES = ("none", "int8")
ModelConfig = dataclasses.make_dataclass(
    "ModelConfig",
    [("preset", "str | None", field(default=None)),
     *[(item.name, f"{item.type} | None", field(default=None)) for item in dataclasses.fields(RBPNConfig)],
     ("init_from", "str | None", field(default=None)),
     ("discriminator_from", "str | None", field(default=None)),
     ("overparameterise", "int", field(default=0)),
     ("quantize", "str", field(default="none"))],
    namespace={"rbpn_config": _model_rbpn_config, "__module__": __name__},
)


@dataclass
class DataConfig:
    # Folder holding the clips; list entries are relative to it. Vimeo-90K: the folder with sequences/.
    root: str | None = None
    # List file (relative to root, or absolute). None: sep_trainlist.txt or train.txt in root if present,
    # else every clip folder / video file directly under root.
    train_list: str | None = None
    # "bi" (MATLAB bicubic), "bd" (Gaussian blur + subsample) or "realworld": the second-order pipeline with a real
    # video codec, whose ranges are the section `realworld` (spectraframe/degradation/realworld.py).
    degradation: str = "bi"
    lr_patch: int = 64  # LR crop size; the HR crop is lr_patch * scale
    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    # "centre": one sample per clip, the middle frame (Vimeo-90K); "all": every frame of every clip.
    targets: str = "centre"
    # Video files in a list: one target every `video_stride` frames.
    video_stride: int = 7
    # Validate on this many clips of the training list instead of val.list (set val.list=null): a fixed choice
    # spread over the list, the same for every seed and on resume, left out of training. 0: use val.list.
    val_holdout: int = 0
    flow_method: str = DEFAULT_FLOW_METHOD
    # Disk cache of the flows computed on whole LR frames; None: <run dir>/flow_cache.
    flow_cache: str | None = None
    # Size limit of the flow cache; least recently used flows are evicted past it (Vimeo-90K x4, 7 frames:
    # about 33 GB for every pair).
    flow_cache_gb: float = 2.0
    num_workers: int = 2
    # Where training batches come from: "loader" (a DataLoader: per-sample work on CPU workers, what the
    # real-world degradations need) or "resident" (spectraframe/data/resident.py: the whole corpus prepared once,
    # MATLAB-bicubic LR and flows, held on the training device; a batch is one gather and the 8 symmetries).
    source: str = "loader"
    # The resident source's clips: a folder of packed clips (`python -m benchmarks.gpu_run pack`: index.json, or
    # part folders holding one each); None: the folder clips of data.root / data.train_list.
    pack: str | None = None
    # Where the resident source keeps its prepared clips (reused by later runs); None: <run dir>/prepared.
    prepared: str | None = None


@dataclass
class LossConfig:
    pixel: str = "mse"  # "mse", "l1" or "charbonnier"
    pixel_weight: float = 1.0
    adversarial_weight: float = 1e-3
    perceptual_weight: float = 6e-3
    tv_weight: float = 2e-8
    # "paper": D loss 1 - mean D(HR) + mean D(SR), G adversarial mean(1 - D(SR)); "bce": the standard BCE form;
    # "ragan": ESRGAN's relativistic average GAN (D judges HR against the mean SR and the other way round).
    gan_form: str = "paper"
    # VGG16 ImageNet weights for the perceptual term; None: found automatically (see archs/vgg.py).
    vgg_weights: str | None = None
    # The published recipe feeds [0, 1] RGB to VGG unnormalised (its 6e-3 weight assumes that).
    vgg_imagenet_normalize: bool = False
    # VGG16 layers of the perceptual term (summed), e.g. [conv5_3]: the last conv before its ReLU (ESRGAN's
    # choice, VGG19's conv5_4 there); the paper's is [pool5].
    perceptual_layers: list[str] = field(default_factory=lambda: ["pool5"])
    perceptual_criterion: str = "mse"  # "mse" (paper), "l1" (ESRGAN) or "normalized" (LPIPS-like)
    # One weight per perceptual layer (None: 1 each); Real-ESRGAN down-weights the shallow layers to 0.1.
    perceptual_layer_weights: list[float] | None = None
    # Flow-warped consistency of the outputs of frames t and t+1 relative to the ground truth's (0: off). On,
    # each sample also carries the next frame's window and G runs twice per step (see losses.temporal_loss).
    temporal_weight: float = 0.0


@dataclass
class TrainConfig:
    seed: int = 0
    batch_size: int = 8
    # Total generator steps; 0 means `epochs` passes over the training samples.
    iterations: int = 0
    epochs: int = 150
    # Generator-only steps with the pixel loss before the GAN phase starts.
    warmup_iterations: int = 0
    # Then discriminator-only steps (G frozen) so D is not random when G first gets the adversarial term.
    d_warmup_iterations: int = 0
    # In the GAN phase D is updated on every this-many-th step (1: every step; 2: half as often as G).
    d_update_every: int = 1
    lr: float = 1e-4
    lr_d: float = 1e-4
    beta1: float = 0.9
    beta2: float = 0.999
    # "step": the learning rates are multiplied by lr_gamma at the fractions lr_decay_at of the total steps;
    # "cosine": they follow half a cosine from lr to lr * lr_min_ratio over the total steps (a resume with a
    # new train.iterations stretches the curve to the new total).
    lr_schedule: str = "step"
    lr_decay_at: list[float] = field(default_factory=lambda: [0.5])
    lr_gamma: float = 0.1
    lr_min_ratio: float = 0.01
    # Exponential moving average of the generator's weights, decay per step (0: off). When on, validation,
    # best.safetensors and generator.safetensors hold the average, the weights that ship.
    ema: float = 0.0
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", ...
    # torch CPU threads of the training process (0: torch's default). 1 is faster on a busy machine.
    threads: int = 0
    amp: str = "none"  # "none", "bf16" (CPU or CUDA), "fp16" (CUDA, with a GradScaler)
    # A wall-time budget in seconds of training steps (validation not counted; 0: none). With it, the run ends
    # at this budget or at train.iterations, whichever comes first, and the cosine schedule runs over the larger
    # fraction of the two; a resume with a larger budget stretches the curve to the new end.
    seconds: float = 0.0
    # Linear learning-rate warm-up over this fraction of the schedule (0: none), for runs from scratch.
    lr_warmup: float = 0.0
    # The generator in channels-last memory format (faster convolutions on GPUs).
    channels_last: bool = False
    # Steps whose loss is NaN/Inf are skipped; training stops after this many.
    max_nonfinite_steps: int = 10
    checkpoint_every: int = 500


@dataclass
class ValConfig:
    # Validate every this many steps (0: never); also at the end of training.
    every: int = 1000
    list: str | None = "val.txt"  # relative to data.root, or absolute
    max_clips: int = 0  # 0: all clips of the list
    frames: str = "all"  # "all" frames of each clip (the protocol) or the "centre" frame only
    # The evaluation degradation of validation (the `spectraframe eval --degradation` syntax, e.g.
    # bi+h264:crf=28); None: data.degradation, or "bi" when that is "realworld".
    degradation: str | None = None


@dataclass
class LogConfig:
    every: int = 10  # scalars to TensorBoard / CSV
    image_every: int = 500  # image grids to TensorBoard (0: never)
    tensorboard: bool = True
    progress: bool = True


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    val: ValConfig = field(default_factory=ValConfig)
    log: LogConfig = field(default_factory=LogConfig)
    # Ranges of the real-world degradation (used when data.degradation is "realworld").
    realworld: RealWorldConfig = field(default_factory=RealWorldConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validation_degradation(self) -> str:
        """What validation degrades its clips with: val.degradation, else the clean data.degradation."""
        if self.val.degradation is not None:
            return self.val.degradation
        return "bi" if self.data.degradation == "realworld" else self.data.degradation

    def validate(self) -> None:
        """Check choices and ranges, all problems in one message."""
        problems = [*self._finite_problems(), *self._choice_problems(), *self._range_problems(),
                    *self._combination_problems(), *self.realworld.problems()]
        if self.val.degradation is not None:
            try:
                parse_degradation(self.val.degradation)
            except SpectraFrameError as exc:
                problems.append(f"val.degradation: {exc}")
        if problems:
            raise SpectraFrameError("invalid training config:\n  " + "\n  ".join(problems))

    def _finite_problems(self) -> list[str]:
        """Every number finite (YAML reads .nan and .inf)."""
        problems = []
        for section in dataclasses.fields(self):
            values = getattr(self, section.name)
            for item in dataclasses.fields(values):
                value = getattr(values, item.name)
                numbers = value if isinstance(value, list) else [value]
                if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
                    problems.append(f"{section.name}.{item.name} must be a finite number, got {value}")
        return problems

    def _choice_problems(self) -> list[str]:
        """Values from fixed sets, and an odd frame count."""
        problems = []
        rbpn = self.model.rbpn_config()
        if rbpn.num_frames % 2 == 0:
            problems.append(f"model.num_frames must be odd (target + k frames each side), got {rbpn.num_frames}")
        choices = {
            "data.degradation": (self.data.degradation, TRAINING_DEGRADATIONS),
            "data.targets": (self.data.targets, ("centre", "all")),
            "loss.pixel": (self.loss.pixel, PIXEL_LOSSES),
            "train.lr_schedule": (self.train.lr_schedule, ("step", "cosine")),
            "loss.gan_form": (self.loss.gan_form, GAN_FORMS),
            "loss.perceptual_criterion": (self.loss.perceptual_criterion, PERCEPTUAL_CRITERIA),
            "train.amp": (self.train.amp, ("none", "bf16", "fp16")),
            "data.source": (self.data.source, ("loader", "resident")),
            "val.frames": (self.val.frames, ("all", "centre")),
        }
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                problems.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        unknown_layers = [name for name in self.loss.perceptual_layers if name not in VGG_LAYERS]
        if unknown_layers or not self.loss.perceptual_layers:
            problems.append(f"loss.perceptual_layers must name VGG16 layers ({', '.join(VGG_LAYERS)}), got "
                            f"{self.loss.perceptual_layers}")
        layer_weights = self.loss.perceptual_layer_weights
        if layer_weights is not None and (len(layer_weights) != len(self.loss.perceptual_layers)
                                          or any(w < 0 for w in layer_weights)):
            problems.append(f"loss.perceptual_layer_weights must give one weight >= 0 per layer of "
                            f"loss.perceptual_layers {self.loss.perceptual_layers}, got {layer_weights}")
        return problems

    def _range_problems(self) -> list[str]:
        """Counts and weights in range."""
        problems = []
        positive = {
            "data.lr_patch": self.data.lr_patch,
            "data.video_stride": self.data.video_stride,
            "train.batch_size": self.train.batch_size,
            "train.d_update_every": self.train.d_update_every,
            "train.checkpoint_every": self.train.checkpoint_every,
            "log.every": self.log.every,
        }
        for name, value in positive.items():
            if value < 1:
                problems.append(f"{name} must be >= 1, got {value}")
        non_negative = {
            "data.num_workers": self.data.num_workers,
            "data.val_holdout": self.data.val_holdout,
            "data.flow_cache_gb": self.data.flow_cache_gb,
            "model.overparameterise": self.model.overparameterise,
            "train.iterations": self.train.iterations,
            "train.epochs": self.train.epochs,
            "train.warmup_iterations": self.train.warmup_iterations,
            "train.d_warmup_iterations": self.train.d_warmup_iterations,
            "train.max_nonfinite_steps": self.train.max_nonfinite_steps,
            "train.threads": self.train.threads,
            "train.seconds": self.train.seconds,
            "val.every": self.val.every,
            "val.max_clips": self.val.max_clips,
            "log.image_every": self.log.image_every,
            "loss.pixel_weight": self.loss.pixel_weight,
            "loss.adversarial_weight": self.loss.adversarial_weight,
            "loss.perceptual_weight": self.loss.perceptual_weight,
            "loss.tv_weight": self.loss.tv_weight,
            "loss.temporal_weight": self.loss.temporal_weight,
        }
        for name, value in non_negative.items():
            if value < 0:
                problems.append(f"{name} must be >= 0, got {value}")
        return problems

    def _combination_problems(self) -> list[str]:
        """Settings that contradict each other, and the schedule's ranges."""
        problems = []
        if self.data.val_holdout > 0 and self.val.list is not None:
            problems.append(
                f"data.val_holdout={self.data.val_holdout} validates on held-out training clips, but val.list="
                f"{self.val.list} names another validation set: set val.list=null, or data.val_holdout=0"
            )
        if self.train.iterations == 0 and self.train.epochs == 0:
            problems.append("set train.iterations or train.epochs: both are 0")
        if not all(0 < f < 1 for f in self.train.lr_decay_at):
            problems.append(f"train.lr_decay_at holds fractions of training in (0, 1), got {self.train.lr_decay_at}")
        if not 0 <= self.train.ema < 1:
            problems.append(f"train.ema is a decay per step in [0, 1) (0: off), got {self.train.ema}")
        if not 0 <= self.train.lr_min_ratio <= 1:
            problems.append(f"train.lr_min_ratio must be in [0, 1], got {self.train.lr_min_ratio}")
        if self.train.lr <= 0 or self.train.lr_d <= 0:
            problems.append("train.lr and train.lr_d must be > 0")
        if not 0 <= self.train.lr_warmup < 1:
            problems.append(f"train.lr_warmup is a fraction of the schedule in [0, 1), got {self.train.lr_warmup}")
        return [*problems, *self._quantize_problems(), *self._resident_problems()]

    def _quantize_problems(self) -> list[str]:
        model = self.model
        if model.quantize not in QUANTIZE_CHOICES:
            return [f"model.quantize must be one of {', '.join(QUANTIZE_CHOICES)}, got {model.quantize!r}"]
        if model.quantize == "none":
            return []
        problems = []
        if not model.init_from:
            problems.append(f"model.quantize={model.quantize} fine-tunes trained weights: set model.init_from (e.g. "
                            "default)")
        if self.data.root is None:
            problems.append(f"model.quantize={model.quantize} calibrates on whole frames of the training clips: set "
                            "data.root (a folder with the train list; a packed corpus is not read for this)")
        if self.train.amp != "none":
            problems.append(f"model.quantize={model.quantize} trains in float32 (the fake quantization is "
                            f"float32): set train.amp=none, not {self.train.amp}")
        if model.overparameterise:
            problems.append("model.quantize and model.overparameterise cannot be combined: quantize the fused "
                            "model (model.init_from=its weights, model.overparameterise=0)")
        return problems

    def _resident_problems(self) -> list[str]:
        """What the resident source cannot do: it prepares bicubic LR once and draws every frame with the 8
        symmetries."""
        data = self.data
        if data.source != "resident":
            return []
        problems = []
        if data.degradation != "bi":
            problems.append(f"data.source=resident prepares MATLAB-bicubic LR once: data.degradation must be bi, got "
                            f"{data.degradation!r} (use data.source=loader for per-sample degradations)")
        if data.targets != "all":
            problems.append("data.source=resident draws every frame of every clip: set data.targets=all")
        if not (data.hflip and data.vflip and data.rot90):
            problems.append("data.source=resident always applies the 8 symmetries: set data.hflip, data.vflip and "
                            "data.rot90 to true")
        if data.pack is None and data.root is None:
            problems.append("data.source=resident needs data.pack (packed clips) or data.root (folder clips)")
        return problems


# --- building from dicts, files, presets and overrides ------------------------------------------

def _section_classes() -> dict[str, type]:
    return {f.name: type(getattr(Config(), f.name)) for f in dataclasses.fields(Config)}


def _unknown_key_message(key: str, known: list[str], where: str) -> str:
    return f"unknown config key {where}{key!r}{did_you_mean(key, known)}; known: {', '.join(known)}"


def _field_kind(section: type, key: str) -> str:
    """The field's type as written in its annotation, without `| None`: "bool", "int", "float", "str", "list" (of
    numbers) or "list[str]"."""
    hint = section.__dataclass_fields__[key].type  # a string: the config modules use postponed annotations
    hint = hint.replace(" | None", "")
    return hint if hint == "list[str]" else hint.split("[")[0]


def _coerce(value: Any, kind: str, name: str) -> Any:
    """Light type checks so `train.lr=abc` or `model.base_filter=abc` fails here, not deep inside the model."""
    if value is None:
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpectraFrameError(f"{name} must be true or false, got {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or int(value) != value:
            raise SpectraFrameError(f"{name} must be an integer, got {value!r}")
        if abs(value) > INT_MAX:  # past what the C code under torch and numpy takes
            raise SpectraFrameError(f"{name} must be a whole number of at most {INT_MAX}, got {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, str):
            # YAML 1.1 reads 2e-4 (no dot) as a string; users write it that way.
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpectraFrameError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise SpectraFrameError(f"{name} must be a finite number, got {value!r}")
        return float(value)
    if kind in ("list", "list[str]"):
        if not isinstance(value, list):
            raise SpectraFrameError(f"{name} must be a list, got {value!r}")
        return [_coerce(v, "str" if kind == "list[str]" else "float", f"{name} entries") for v in value]
    if kind == "str" and not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # a folder named 2024 reads as a number in YAML
        raise SpectraFrameError(f"{name} must be text, got {value!r}")
    return value


def config_from_dict(values: dict[str, Any]) -> Config:
    """A Config from nested dicts (as in YAML); missing keys keep their defaults."""
    if not isinstance(values, dict):
        raise SpectraFrameError(f"a training config is a mapping of sections, got {type(values).__name__}")
    config = Config()
    classes = _section_classes()
    for section, entries in values.items():
        if section not in classes:
            raise SpectraFrameError(_unknown_key_message(section, list(classes), ""))
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise SpectraFrameError(f"config section {section!r} must be a mapping, got {entries!r}")
        target = getattr(config, section)
        known = [f.name for f in dataclasses.fields(target)]
        for key, value in entries.items():
            if key not in known:
                raise SpectraFrameError(_unknown_key_message(key, known, f"{section}."))
            setattr(target, key, _coerce(value, _field_kind(type(target), key), f"{section}.{key}"))
    return config


def read_config_file(source: str | Path, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """YAML of a file path, or of a shipped preset when `source` is a preset name (see `preset_names`). A
    top-level `base: NAME` (a preset, or a file relative to this one) is read first and this file's keys go on
    top of it, section by section (mmagic's `_base_`): a recipe states only what differs."""
    values, folder = _read_yaml(source)
    base = values.pop("base", None)
    if base is None:
        return _sections(values, f"config {source}")
    if not isinstance(base, str):
        raise SpectraFrameError(f"config {source}: base must name a preset or a YAML file, got {base!r}")
    if base in _seen or str(source) in _seen:
        raise SpectraFrameError(f"config {source}: its base chain loops ({' -> '.join([*_seen, str(source), base])})")
    located = folder / base if folder is not None and (folder / base).is_file() else base
    merged = {k: dict(v or {}) for k, v in read_config_file(located, (*_seen, str(source))).items()}
    for section, entries in _sections(values, f"config {source}").items():
        merged.setdefault(section, {}).update(entries or {})
    return merged


def _read_yaml(source: str | Path) -> tuple[dict, Path | None]:
    """A config file's or preset's YAML mapping, and the folder a relative base is found in (None: a preset)."""
    path = Path(source)
    folder = path.parent if path.is_file() else None
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SpectraFrameError(f"config {source} is not UTF-8 text (byte {exc.start} cannot be read): save it "
                                    "as UTF-8 YAML") from exc
        except OSError as exc:
            raise SpectraFrameError(f"cannot read config {source}: {exc.strerror or exc}") from exc
    elif path.exists():
        require_file(path, "config")
    else:
        preset = resources.files("spectraframe").joinpath("configs", f"{source}.yaml")
        if not preset.is_file():
            raise SpectraFrameError(
                f"config {source!r} is neither a file nor a preset; presets: {', '.join(preset_names())}"
            )
        text = preset.read_text()
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise SpectraFrameError(f"config {source} is not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        return _sections(values, f"config {source}"), folder  # raises: not a mapping
    return values, folder


def _sections(values: Any, where: str) -> dict[str, Any]:
    """A YAML document checked to be a mapping of sections, each a mapping (or empty)."""
    if not isinstance(values, dict):
        raise SpectraFrameError(f"{where} must be a mapping of sections (model:, data:, train: ...), got a "
                                f"{type(values).__name__}")
    for section, entries in values.items():
        if entries is not None and not isinstance(entries, dict):
            raise SpectraFrameError(f"{where}: section {section!r} must be a mapping of key: value, got {entries!r}")
    return values


def apply_overrides(values: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`section.key=value` strings on top of nested dicts; values are parsed as YAML (2e-4, true, [0.5])."""
    merged = {k: dict(v or {}) for k, v in _sections(values, "the training config").items()}
    for item in overrides:
        name, sep, raw = item.partition("=")
        if not sep or name.count(".") != 1:
            raise SpectraFrameError(f"override {item!r} must look like section.key=value, e.g. train.lr=2e-4")
        section, key = name.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise SpectraFrameError(f"override {item!r}: cannot parse the value: {exc}") from exc
        merged.setdefault(section, {})[key] = value
    return merged


def load_config(source: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults <- file or preset <- overrides, validated."""
    values = read_config_file(source) if source is not None else {}
    config = config_from_dict(apply_overrides(values, overrides or []))
    config.validate()
    return config


def save_config(config: Config, path: str | Path) -> None:
    text = yaml.safe_dump(config.to_dict(), sort_keys=False)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))
