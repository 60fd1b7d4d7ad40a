"""Search spaces as plain data (torch-free).

A space file (YAML, see search_spaces/) lists stages; per stage the depth choices and, for
every block of the stage, the allowed mixer families with their option values and the MLP
ratio choices; plus per *scale* the input size, stem, downsampler and stage widths. A list
means "search this", a single value means "fixed".

`Arch` is one point of a space: per stage a tuple of `BlockChoice`s (its length is the
stage's depth). It has one canonical, human-readable key, e.g.
`c3r4-s5r2_c7r4_s3r2-c5r4_c3r2` (stages joined by `_`, blocks by `-`; a block is the family
letter, its option values and `r` + MLP ratio).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..spec import (
    FAMILIES,
    BlockSpec,
    DownsampleSpec,
    NetSpec,
    SpecError,
    StageSpec,
    StemSpec,
    family,
)


class SpaceError(SpecError):
    """A search-space file or architecture key that cannot be used."""


_CODES = {info.code: name for name, info in FAMILIES.items()}


def _fmt_num(v: float | int) -> str:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v)


def _fmt_value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return "x".join(_fmt_num(x) for x in v)
    return _fmt_num(v)


@dataclass(frozen=True, order=True)
class BlockChoice:
    family: str
    options: tuple[tuple[str, Any], ...]  # in FAMILIES[family].options order
    mlp_ratio: float

    @property
    def token(self) -> str:
        vals = ".".join(_fmt_value(v) for _, v in self.options)
        return f"{family(self.family).code}{vals}r{_fmt_num(self.mlp_ratio)}"

    @staticmethod
    def from_token(token: str) -> BlockChoice:
        try:
            fam = _CODES[token[0]]
            body, ratio = token[1:].rsplit("r", 1)
            names = list(FAMILIES[fam].options)
            raw = body.split(".")
            if len(raw) != len(names):
                raise ValueError
            values = []
            for r in raw:
                parts = [int(x) for x in r.split("x")]
                values.append(parts[0] if len(parts) == 1 else tuple(parts))
            ratio_v = float(ratio)
        except (KeyError, ValueError, IndexError):
            raise SpaceError(
                f"'{token}' is not a block of an architecture key; a block is a family letter "
                f"({', '.join(f'{c}={n}' for c, n in _CODES.items())}), its option values and "
                f"r<mlp ratio>, e.g. c3r4 or h3.1r2.") from None
        return BlockChoice(fam, tuple(zip(names, values)), ratio_v)


@dataclass(frozen=True)
class Arch:
    stages: tuple[tuple[BlockChoice, ...], ...]

    @cached_property
    def key(self) -> str:
        return "_".join("-".join(b.token for b in st) for st in self.stages)

    @property
    def depths(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.stages)

    def blocks(self):
        """(stage index, block index, choice) for every block."""
        for i, st in enumerate(self.stages):
            for j, b in enumerate(st):
                yield i, j, b

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class StageChoices:
    """What one stage of a search space may choose: its depth, and per block a mixer family
    with its option values and an MLP ratio (`block_choices`). A built network's stage is
    `mlpnas.spec.StageSpec`."""

    width: int
    depths: tuple[int, ...]
    mixers: tuple[tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]], ...]  # fam -> opt values
    mlp_ratios: tuple[float, ...]
    resolution: tuple[int, int]

    @cached_property
    def block_choices(self) -> tuple[BlockChoice, ...]:
        """Every distinct block of this stage, grouped by family in the order listed."""
        out = []
        for fam, opts in self.mixers:
            names = [n for n, _ in opts]
            for combo in itertools.product(*(vals for _, vals in opts)):
                for ratio in self.mlp_ratios:
                    out.append(BlockChoice(fam, tuple(zip(names, combo)), ratio))
        return tuple(out)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(f for f, _ in self.mixers)

    def options_of(self, fam: str) -> dict[str, tuple[Any, ...]]:
        return dict(dict(self.mixers)[fam])


@dataclass(frozen=True)
class Space:
    name: str
    scale: str
    description: str
    input_size: tuple[int, int, int]  # (channels, height, width), as in timm's configs
    norm: str
    stem: StemSpec
    downsample: DownsampleSpec
    stages: tuple[StageChoices, ...]
    path: str = ""
    scales: tuple[str, ...] = ()

    # -- size, sampling --------------------------------------------------------------------

    def size(self) -> int:
        """Number of distinct architectures."""
        total = 1
        for st in self.stages:
            n = len(st.block_choices)
            total *= sum(n**d for d in st.depths)
        return total

    def sample(self, seed: int | random.Random | None = None) -> Arch:
        """A random architecture: depth uniform per stage, then for every block a family
        uniformly, its options uniformly, the MLP ratio uniformly."""
        rng = seed if isinstance(seed, random.Random) else random.Random(seed)
        stages = []
        for st in self.stages:
            depth = rng.choice(st.depths)
            blocks = []
            for _ in range(depth):
                fam, opts = rng.choice(st.mixers)
                values = tuple((n, rng.choice(vals)) for n, vals in opts)
                blocks.append(BlockChoice(fam, values, rng.choice(st.mlp_ratios)))
            stages.append(tuple(blocks))
        return Arch(tuple(stages))

    def _extreme(self, largest: bool) -> Arch:
        pick = max if largest else min
        stages = []
        for st in self.stages:
            fam, opts = st.mixers[0]  # the first family listed is the reference family
            values = tuple((n, pick(vals, key=_order_key)) for n, vals in opts)
            block = BlockChoice(fam, values, pick(st.mlp_ratios))
            stages.append((block,) * pick(st.depths))
        return Arch(tuple(stages))

    def largest(self) -> Arch:
        """Deepest, widest MLPs, the first-listed family of each stage with its largest
        option values: the teacher of the sandwich rule."""
        return self._extreme(True)

    def smallest(self) -> Arch:
        """Shallowest, narrowest MLPs, the first-listed family with its smallest options."""
        return self._extreme(False)

    def uniform_archs(self) -> dict[str, Arch]:
        """One hand-designed point per family allowed in every stage: all blocks of that
        family with its middle option values, the largest depth and MLP ratio (the shape of
        the published models)."""
        out = {}
        common = [f for f in self.stages[0].families
                  if all(f in st.families for st in self.stages)]
        for fam in common:
            stages = []
            for st in self.stages:
                opts = st.options_of(fam)
                values = tuple((n, vals[len(vals) // 2]) for n, vals in opts.items())
                stages.append((BlockChoice(fam, values, max(st.mlp_ratios)),) * max(st.depths))
            out[f"all-{fam}"] = Arch(tuple(stages))
        return out

    # -- keys ------------------------------------------------------------------------------

    def arch_from_key(self, key: str) -> Arch:
        parts = key.strip().split("_")
        if len(parts) != len(self.stages):
            raise SpaceError(
                f"architecture key '{key}' has {len(parts)} stages but space '{self.name}' has "
                f"{len(self.stages)}; stages are separated by '_'.")
        arch = Arch(tuple(tuple(BlockChoice.from_token(t) for t in p.split("-")) for p in parts))
        self.check_arch(arch)
        return arch

    def has_key(self, key: str) -> bool:
        """Whether `key` is the key of an architecture of this space, exactly as mlpnas
        writes it (keys name folders: one read from a file must be one of these)."""
        try:
            return self.arch_from_key(key).key == key
        except SpaceError:
            return False

    def contains(self, arch: Arch) -> bool:
        try:
            self.check_arch(arch)
        except SpaceError:
            return False
        return True

    def check_arch(self, arch: Arch) -> None:
        if len(arch.stages) != len(self.stages):
            raise SpaceError(f"architecture has {len(arch.stages)} stages, space '{self.name}' "
                             f"has {len(self.stages)}.")
        for i, (blocks, st) in enumerate(zip(arch.stages, self.stages)):
            if len(blocks) not in st.depths:
                raise SpaceError(f"stage {i} of '{arch.key}' has depth {len(blocks)}; space "
                                 f"'{self.name}' allows {list(st.depths)}.")
            allowed = set(st.block_choices)
            for j, b in enumerate(blocks):
                if b not in allowed:
                    raise SpaceError(
                        f"block {j} of stage {i} ('{b.token}') is not in space '{self.name}': "
                        f"stage {i} allows {', '.join(sorted({c.token for c in allowed}))}.")

    # -- conversion ------------------------------------------------------------------------

    def to_netspec(self, arch: Arch, num_classes: int, check: bool = True) -> NetSpec:
        """The static network of `arch` (input size, stem, norm, widths from the space)."""
        if check:
            self.check_arch(arch)
        stages = []
        for i, (blocks, st) in enumerate(zip(arch.stages, self.stages)):
            bspecs = tuple(
                BlockSpec.make(b.family, int(st.width * b.mlp_ratio), **dict(b.options))
                for b in blocks)
            stages.append(StageSpec(st.width, bspecs, None if i == 0 else self.downsample))
        return NetSpec(self.stem, tuple(stages), self.norm, self.input_size[0], num_classes,
                       self.input_size[1:], meta=(("space", self.name), ("scale", self.scale),
                                                  ("arch", arch.key)))

def stable_repr(value: Any) -> str:
    """`repr(value)` of a space's parts, as written into supernet fingerprints and cost-table
    names: the stage class was called `StageSpace` when the first supernets were trained, so
    the name is written that way still, and a supernet or table from before the rename stays
    valid."""
    return repr(value).replace("StageChoices(", "StageSpace(")


def _order_key(v):
    return tuple(v) if isinstance(v, (list, tuple)) else (v,)

