"""Plain, torch-free description of one static network (`NetSpec`).

Every model mlpnas builds, published or found by a search, is a `NetSpec`: a stem, a list of
stages (each with an optional downsampler at its entry and a list of blocks), a norm kind and a
classifier. A block is a token mixer family with its options plus the MLP hidden width.

The spec is the contract between the torch-free search space (`mlpnas.space`), the model
builder (`mlpnas.models.backbone`) and export files: it round-trips through `to_dict` /
`from_dict` (JSON-compatible) and validates itself with plain-language errors.

The family table (`FAMILIES`) is the one place that says what a mixer family is: its key
letter, its options and their legal values, its static and elastic mixer classes, whether
its kernel options can be merged (meta kernels) and how its cost is counted. The mixers, the
search-space parser, the supernet and the searches all read it. Adding a family is one file
in `mlpnas/mixers/` (static and elastic mixer) plus one entry here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError

NORMS = ("layer", "group", "batch")
ACTS = ("relu", "gelu")


class SpecError(UserError, ValueError):
    """A network or mixer description that cannot be built; the message says what to change."""


# --------------------------------------------------------------------------------------------
# Mixer families
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyInfo:
    """What the rest of mlpnas asks of one mixer family. `options` maps option name ->
    default value; `mixer` and `elastic` name the static and the elastic (supernet) mixer
    classes as 'module:Class', imported when first asked for, so this table stays
    torch-free."""

    name: str
    code: str  # one letter used in architecture keys
    paper: str
    options: Mapping[str, Any]
    kernel_option: str  # the option that plays the role of the "pseudo-kernel"
    validate: Callable[..., None]  # (options, width, (H, W), message prefix): raise SpecError
    mixer: str
    elastic: str
    mergeable: bool  # its kernel options share every weight: meta kernels can merge them
    cost_note: str   # how its FLOPs are counted (fvcore) and what its options change
    # (width, full options, (H, W)) -> (weights and buffers of its mixer, elements of the
    # largest tensor its forward pass makes for one image): counted from the numbers alone,
    # so that a described network is sized before any tensor is allocated
    size: Callable[[int, Mapping[str, Any], tuple[int, int]], tuple[int, int]]

    def static_class(self) -> type:
        return _load_class(self.mixer)

    def elastic_class(self) -> type:
        """The elastic mixer; `elastic_class().for_options(dim, {option: [values]},
        (H, W))` builds one that runs every listed value with shared weights."""
        return _load_class(self.elastic)

    def check(self, options: Mapping[str, Any], dim: int | None = None,
              resolution: tuple[int, int] | None = None, where: str = "") -> dict[str, Any]:
        """Return the full option dict (defaults filled in) or raise SpecError."""
        prefix = f"{where}: " if where else ""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise SpecError(
                f"{prefix}mixer '{self.name}' has no option '{unknown[0]}'; "
                f"its options are {', '.join(self.options)}.")
        full = {**self.options, **options}
        self.validate(full, dim, resolution, prefix)
        return full


def _positive_int(value: Any, name: str, prefix: str, odd: bool = False,
                  allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = "a non-negative" if allow_zero else "a positive"
        raise SpecError(f"{prefix}{name} must be {what} integer, got {value!r}.")
    if odd and value % 2 == 0:
        raise SpecError(f"{prefix}{name} must be odd (1, 3, 5, 7, ...), got {value}.")
    return value


def _check_cycle(o: dict, dim, resolution, prefix) -> None:
    k = o["kernel"]
    ks = list(k) if isinstance(k, (list, tuple)) else [k]
    if len(ks) not in (1, 2):
        raise SpecError(f"{prefix}cycle kernel must be one odd integer or a pair (K_h, K_w), "
                        f"got {k!r}.")
    for v in ks:
        _positive_int(v, "cycle kernel", prefix, odd=True)


def _check_shift(o: dict, dim, resolution, prefix) -> None:
    _positive_int(o["shift_size"], "shift shift_size", prefix, odd=True)


def _check_hire(o: dict, dim, resolution, prefix) -> None:
    _positive_int(o["region"], "hire region", prefix)
    _positive_int(o["step"], "hire step", prefix, allow_zero=True)
    if dim is not None and dim < 2:
        raise SpecError(f"{prefix}hire needs a width of at least 2 (its hidden width is C//2), "
                        f"got {dim}.")


def _check_permute(o: dict, dim, resolution, prefix) -> None:
    g = _positive_int(o["segments"], "permute segments", prefix)
    if dim is not None and dim % g != 0:
        divisors = [d for d in range(1, dim + 1) if dim % d == 0]
        raise SpecError(
            f"{prefix}permute segments={g} does not divide the width {dim}: the channels are "
            f"cut into equal segments, so segments must be one of {divisors}.")


# -- sizes: weights and buffers, counted as the modules hold them ------------------------------


def _linear(n_in: int, n_out: int, bias: bool = True) -> int:
    return n_in * n_out + (n_out if bias else 0)


def _norm(dim: int) -> int:
    """Any of the norms (weight and bias, plus BatchNorm's running statistics)."""
    return 4 * dim + 1


def _fusion(dim: int) -> int:
    """The reweight fusion and projection of the three-branch mixers (mixers/_fusion.py)."""
    hidden = max(dim // 4, 1)
    return _linear(dim, hidden) + _linear(hidden, 3 * dim) + _linear(dim, dim)


def _size_cycle(dim: int, o, res) -> tuple[int, int]:
    return 2 * _linear(dim, dim) + _linear(dim, dim, False) + _fusion(dim), res[0] * res[1] * dim


def _size_shift(dim: int, o, res) -> tuple[int, int]:
    return 4 * _linear(dim, dim) + 2 * _norm(dim), res[0] * res[1] * dim


def _size_hire(dim: int, o, res) -> tuple[int, int]:
    p, hidden = o["region"], dim // 2
    axis = _linear(dim * p, hidden, False) + _norm(hidden) + _linear(hidden, dim * p)
    h, w = res
    folded = max(-(-h // p) * p * w, h * -(-w // p) * p) * dim  # padded to whole regions
    return 2 * axis + _linear(dim, dim) + _fusion(dim), folded


def _size_permute(dim: int, o, res) -> tuple[int, int]:
    s = dim // o["segments"]
    h, w = res
    weights = _linear(h * s, h * s, False) + _linear(w * s, w * s, False)
    return weights + _linear(dim, dim, False) + _fusion(dim), h * w * dim


def _load_class(path: str) -> type:
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


FAMILIES: dict[str, FamilyInfo] = {
    "cycle": FamilyInfo(
        "cycle", "c", "CycleMLP", {"kernel": 3}, "kernel", _check_cycle,
        "mlpnas.mixers.cycle:CycleMixer", "mlpnas.mixers.cycle:ElasticCycleMixer", True,
        "the pseudo-kernel only moves pixels: the two CycleFC Linears are counted, the shift "
        "is free, so every kernel costs the same FLOPs and parameters", _size_cycle),
    "shift": FamilyInfo(
        "shift", "s", "AS-MLP", {"shift_size": 5}, "shift_size", _check_shift,
        "mlpnas.mixers.shift:ShiftMixer", "mlpnas.mixers.shift:ElasticShiftMixer", True,
        "the axial shift only moves pixels: every shift size costs the same FLOPs and "
        "parameters", _size_shift),
    "hire": FamilyInfo(
        "hire", "h", "Hire-MLP", {"region": 2, "step": 0}, "region", _check_hire,
        "mlpnas.mixers.hire:HireMixer", "mlpnas.mixers.hire:ElasticHireMixer", False,
        "the region size p sets the folded width p*C of the branch FCs: FLOPs and parameters "
        "grow with p; the step (a roll) is free", _size_hire),
    "permute": FamilyInfo(
        "permute", "p", "ViP", {"segments": 8}, "segments", _check_permute,
        "mlpnas.mixers.permute:PermuteMixer", "mlpnas.mixers.permute:ElasticPermuteMixer",
        False,
        "the per-axis FCs are (H*S)x(H*S) with S = C/segments: FLOPs and parameters fall as "
        "the segment count grows, and depend on the feature map size", _size_permute),
}


def family(name: str) -> FamilyInfo:
    try:
        return FAMILIES[name]
    except KeyError:
        raise SpecError(f"unknown mixer family '{name}'; known families are "
                        f"{', '.join(FAMILIES)}.") from None


# --------------------------------------------------------------------------------------------
# Network description
# --------------------------------------------------------------------------------------------


def _check_choice(value, allowed, what):
    if value is not None and value not in allowed:
        raise SpecError(f"{what} must be one of {', '.join(allowed)} (or null), got {value!r}.")


@dataclass(frozen=True)
class StemSpec:
    """Patch embedding: conv(kernel, stride, padding) [+ norm] [+ act]."""

    kernel: int = 4
    stride: int = 4
    padding: int = 0
    norm: str | None = None
    act: str | None = None

    def __post_init__(self):
        _check_choice(self.norm, NORMS, "stem norm")
        _check_choice(self.act, ACTS, "stem act")

    def out_size(self, size: int) -> int:
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class DownsampleSpec:
    """Entry of a stage. kind='conv': conv(kernel, stride, padding) [+ norm] [+ act];
    kind='merge': Swin/AS-MLP patch merging (2x2 neighbours concatenated, norm over 4C,
    linear 4C -> C_out without bias)."""

    kind: str = "conv"
    kernel: int = 3
    stride: int = 2
    padding: int = 1
    norm: str | None = None
    act: str | None = None

    def __post_init__(self):
        if self.kind not in ("conv", "merge"):
            raise SpecError(f"downsample kind must be 'conv' or 'merge', got {self.kind!r}.")
        _check_choice(self.norm, NORMS, "downsample norm")
        _check_choice(self.act, ACTS, "downsample act")

    def out_size(self, size: int) -> int:
        if self.kind == "merge":
            return math.ceil(size / 2)
        return (size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class BlockSpec:
    mixer: str
    options: tuple[tuple[str, Any], ...]
    mlp_hidden: int

    @staticmethod
    def make(mixer: str, mlp_hidden: int, **options) -> BlockSpec:
        return BlockSpec(mixer, _freeze(options), int(mlp_hidden))

    @property
    def mixer_options(self) -> dict[str, Any]:
        return {k: _thaw(v) for k, v in self.options}


@dataclass(frozen=True)
class StageSpec:
    dim: int
    blocks: tuple[BlockSpec, ...]
    downsample: DownsampleSpec | None = None


@dataclass(frozen=True)
class NetSpec:
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    norm: str = "layer"
    in_chans: int = 3
    num_classes: int = 1000
    img_size: tuple[int, int] = (224, 224)
    skip_lam: float = 1.0
    meta: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    def __post_init__(self):
        _check_choice(self.norm, NORMS, "norm")
        object.__setattr__(self, "img_size", _pair(self.img_size))
        if not self.stages:
            raise SpecError("a network needs at least one stage.")
        self.validate()

    # -- derived -------------------------------------------------------------------------

    def resolutions(self) -> list[tuple[int, int]]:
        """Feature-map size (H, W) inside each stage for the spec's img_size."""
        h, w = (self.stem.out_size(s) for s in self.img_size)
        out = []
        for i, st in enumerate(self.stages):
            if st.downsample is not None:
                h, w = st.downsample.out_size(h), st.downsample.out_size(w)
            if h < 1 or w < 1:
                raise SpecError(
                    f"stage {i} would have a {h}x{w} feature map at input size "
                    f"{self.img_size[0]}x{self.img_size[1]}: use a larger input or fewer "
                    f"downsampling steps.")
            out.append((h, w))
        return out

    def validate(self) -> None:
        res = self.resolutions()
        prev = None
        for i, st in enumerate(self.stages):
            if st.dim < 1:
                raise SpecError(f"stage {i}: width must be positive, got {st.dim}.")
            if not st.blocks:
                raise SpecError(f"stage {i}: depth must be at least 1.")
            if prev is not None and st.downsample is None and st.dim != prev:
                raise SpecError(f"stage {i}: width changes from {prev} to {st.dim} without a "
                                f"downsample entry; add one (a 1x1 conv keeps the resolution).")
            for j, b in enumerate(st.blocks):
                where = f"stage {i} block {j}"
                family(b.mixer).check(b.mixer_options, st.dim, res[i], where)
                if b.mlp_hidden < 1:
                    raise SpecError(f"{where}: mlp_hidden must be positive, got {b.mlp_hidden}.")
            prev = st.dim
        self._check_size(res)

    @property
    def depths(self) -> list[int]:
        return [len(s.blocks) for s in self.stages]

    @property
    def dims(self) -> list[int]:
        return [s.dim for s in self.stages]

    def replace(self, **changes) -> NetSpec:
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.update(changes)
        return NetSpec(**d)

    # -- (de)serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "stem": _dc_dict(self.stem),
            "stages": [
                {
                    "dim": s.dim,
                    "downsample": None if s.downsample is None else _dc_dict(s.downsample),
                    "blocks": [
                        {"mixer": b.mixer, "options": b.mixer_options, "mlp_hidden": b.mlp_hidden}
                        for b in s.blocks
                    ],
                }
                for s in self.stages
            ],
            "norm": self.norm,
            "in_chans": self.in_chans,
            "num_classes": self.num_classes,
            "img_size": list(self.img_size),
            "skip_lam": self.skip_lam,
            "meta": {k: _thaw(v) for k, v in self.meta},
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> NetSpec:
        """The description written by `to_dict` (e.g. an exported arch.json), every number
        checked for its type and range before anything is built: a damaged or hostile file
        is refused in one sentence, never allocated."""
        try:
            if len(d["stages"]) > LIMITS["stages"]:
                raise SpecError(f"{len(d['stages'])} stages are more than the "
                                f"{LIMITS['stages']} allowed.")
            stages = tuple(
                StageSpec(
                    dim=_whole(s["dim"], f"stage {i} dim", 1, LIMITS["dim"]),
                    downsample=None if s.get("downsample") is None
                    else DownsampleSpec(**_layer(s["downsample"], f"stage {i} downsample")),
                    blocks=tuple(BlockSpec.make(b["mixer"], _whole(
                        b["mlp_hidden"], f"stage {i} block {j} mlp_hidden", 1,
                        LIMITS["mlp_hidden"]), **b.get("options", {}))
                        for j, b in enumerate(_bounded(s["blocks"], f"stage {i} blocks",
                                                       LIMITS["depth"]))),
                )
                for i, s in enumerate(d["stages"])
            )
            size = d.get("img_size", (224, 224))
            size = [size, size] if isinstance(size, int) else list(size)
            spec = NetSpec(
                stem=StemSpec(**_layer(d["stem"], "stem")),
                stages=stages,
                norm=d.get("norm", "layer"),
                in_chans=_whole(d.get("in_chans", 3), "in_chans", 1, LIMITS["in_chans"]),
                num_classes=_whole(d.get("num_classes", 1000), "num_classes", 1,
                                   LIMITS["num_classes"]),
                img_size=tuple(_whole(v, "img_size", 1, LIMITS["img_size"]) for v in size),
                skip_lam=float(_number(d.get("skip_lam", 1.0), "skip_lam")),
                meta=_freeze(d.get("meta", {})),
            )
        except SpecError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError, RecursionError) as e:
            what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
            raise SpecError(f"network description is incomplete or malformed ({what}); it "
                            f"needs 'stem' and 'stages' with 'dim' and 'blocks'.") from None
        return spec

    def size_estimate(self, res: list[tuple[int, int]] | None = None) -> tuple[int, int]:
        """(weights and buffers of the network, elements of the largest tensor its forward
        pass makes for one image), counted from the description alone: every layer as
        mlpnas builds it, each mixer by its family's own count (`FamilyInfo.size`)."""
        res = self.resolutions() if res is None else res
        h, w = (self.stem.out_size(s) for s in self.img_size)
        first = self.stages[0].dim
        weights = self.in_chans * first * self.stem.kernel ** 2 + first + _norm(first)
        largest = max(self.in_chans * self.img_size[0] * self.img_size[1], h * w * first)
        prev = first
        for st, (h, w) in zip(self.stages, res):
            ds = st.downsample
            if ds is not None and ds.kind == "merge":
                weights += _norm(4 * prev) + _linear(4 * prev, st.dim, False)
                largest = max(largest, 4 * prev * h * w)
            elif ds is not None:
                weights += prev * st.dim * ds.kernel ** 2 + st.dim + _norm(st.dim)
            largest = max(largest, h * w * st.dim)
            for b in st.blocks:
                mixer, biggest = family(b.mixer).size(st.dim, b.mixer_options, (h, w))
                weights += (mixer + 2 * _norm(st.dim) + _linear(st.dim, b.mlp_hidden)
                            + _linear(b.mlp_hidden, st.dim))
                largest = max(largest, biggest, h * w * b.mlp_hidden)
            prev = st.dim
        return weights + _norm(prev) + _linear(prev, self.num_classes), largest

    def weight_estimate(self) -> int:
        return self.size_estimate()[0]

    def _check_size(self, res: list[tuple[int, int]]) -> None:
        weights, largest = self.size_estimate(res)
        if weights > LIMITS["weights"]:
            raise SpecError(f"the network described would hold about {weights / 1e9:.3g} "
                            f"billion weights, more than the {LIMITS['weights'] / 1e9:g} "
                            f"billion mlpnas builds; the description is damaged or not meant "
                            f"for mlpnas (or its input size, {self.img_size[0]}x"
                            f"{self.img_size[1]}, is too large for it).")
        if largest > LIMITS["activations"]:
            raise SpecError(f"the network described at input size {self.img_size[0]}x"
                            f"{self.img_size[1]} would make a tensor of about {largest / 1e9:.3g} "
                            f"billion values for each image, more than the "
                            f"{LIMITS['activations'] / 1e9:.3g} billion mlpnas allows; use a "
                            f"smaller input size (or the description is damaged).")


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


# bounds of a network description (read from a file, or built at a given input size): far
# above any real MLP backbone (the largest published one, Hire-MLP-Large, holds 96 million
# weights), far below what would exhaust a machine: 1e9 weights are 4 GB in fp32, and so is
# the largest tensor one image may make
LIMITS = {"stages": 16, "depth": 256, "dim": 16384, "mlp_hidden": 131072, "in_chans": 64,
          "num_classes": 1_000_000, "img_size": 8192, "layer": 64, "weights": 1_000_000_000,
          "activations": 2**30}


def _whole(v, what: str, low: int, high: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{what} must be a whole number, got {v!r}.")
    if not low <= v <= high:
        raise SpecError(f"{what}={v} is out of range; it must be from {low} to {high}.")
    return v


def _number(v, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpecError(f"{what} must be a finite number, got {v!r}.")
    return v


def _bounded(items, what: str, high: int):
    if not isinstance(items, (list, tuple)):
        raise SpecError(f"{what} must be a list, got {type(items).__name__}.")
    if len(items) > high:
        raise SpecError(f"{what}: {len(items)} entries are more than the {high} allowed.")
    return items


def _layer(d: Mapping[str, Any], what: str) -> dict[str, Any]:
    """A stem or downsample entry with whole-number sizes in range."""
    out = dict(d)
    for k in ("kernel", "stride", "padding"):
        if k in out:
            out[k] = _whole(out[k], f"{what} {k}", 0 if k == "padding" else 1, LIMITS["layer"])
    return out


def _pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    if len(v) != 2:
        raise SpecError(f"img_size must be one integer or (height, width), got {v!r}.")
    return v


def _freeze(v):
    if isinstance(v, Mapping):
        return tuple(sorted((str(k), _freeze(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return ("__list__",) + tuple(_freeze(x) for x in v)
    return v


def _thaw(v):
    if isinstance(v, tuple):
        if v and v[0] == "__list__":
            return [_thaw(x) for x in v[1:]]
        return {k: _thaw(x) for k, x in v}
    return v


def _dc_dict(obj) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in obj.__dataclass_fields__}
