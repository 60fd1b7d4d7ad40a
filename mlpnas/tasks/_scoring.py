"""The accuracy axis of a run, built from its settings: which score (`search.score`), whether
the supernet is trained for it (`search.train_supernet`), the training-free settings
(`scoring.*`), the predictor and an ensemble's reference sample. Search and export both
build a run's axis here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

TRAIN_SUPERNET = ("auto", True, False)


@dataclass(frozen=True)
class AxisSetting:
    """`search.score` and what it needs, checked before any work."""
    choice: object               # mlpnas.score.ScoreChoice
    train_supernet: bool         # train (or reuse) the supernet
    zero_cost: object | None     # mlpnas.score.ZeroCostSetting, if a training-free score
    reference_archs: int         # ensembles: size of the reference sample
    predictor: object | None     # mlpnas.score.Predictor, fitted

    @property
    def uses_batch(self) -> bool:
        from ..score import SCORES

        return self.predictor is not None or any(
            SCORES[m].kind == "training_free" for m in self.choice.base_scores)

    def record(self) -> dict:
        """What the study and run.json keep of it (a resumed study must match it)."""
        out = {**self.choice.record(), "supernet_trained": self.train_supernet}
        if self.uses_batch:
            out["scoring"] = self.zero_cost.record()
        if self.choice.is_ensemble:
            out["reference_archs"] = self.reference_archs
        if self.predictor is not None:
            out["predictor"] = self.predictor.record()
        return out


def recorded_settings(run_cfg) -> tuple[dict, dict]:
    """(search, scoring) settings of a finished run's config.yaml: a run recorded before
    scores existed was scored by the supernet's holdout accuracy, and its scoring settings
    are today's defaults."""
    import importlib.resources

    import yaml

    from ._common import plain

    search = dict(plain(run_cfg.get("search")) or {})
    search.setdefault("score", "supernet_acc")
    search.setdefault("train_supernet", "auto")
    conf = Path(str(importlib.resources.files("mlpnas") / "conf" / "scoring" / "default.yaml"))
    scoring = {**(yaml.safe_load(conf.read_text()) or {}),
               **(plain(run_cfg.get("scoring")) or {})}
    return search, scoring


def axis_setting(search_cfg: dict, scoring_cfg: dict, space, data,
                 metakernel: bool = False, log=print) -> AxisSetting:
    """The checked axis of a run on `data` (its splits); every refusal comes before any
    work."""
    from ..score import ZeroCostSetting, fit_predictor, parse_score

    choice = parse_score(search_cfg.get("score"))
    mode = search_cfg.get("train_supernet", "auto")
    if mode not in TRAIN_SUPERNET:
        raise UserError(f"search.train_supernet={mode!r} is not allowed; give auto (train it "
                        f"only when the score needs it), true or false.")
    if mode is False and choice.needs_supernet:
        raise UserError(f"search.score={choice.key} needs a trained supernet, but "
                        f"search.train_supernet=false skips it; set search.train_supernet="
                        f"auto, or choose a score that needs none (e.g. naswot, mflops).")
    train = metakernel or mode is True or choice.needs_supernet
    predictor = None
    if choice.is_predictor:
        predictor = fit_predictor(scoring_cfg.get("predictor"), space.name, space.scale,
                                  data.name)
        log(predictor.describe())
    sc = dict(scoring_cfg)
    if predictor is not None and predictor.scoring:  # the features as the report made them
        sc.update(predictor.scoring)
    zero_cost = ZeroCostSetting.of(sc)
    n_ref = sc.get("reference_archs")
    if isinstance(n_ref, bool) or not isinstance(n_ref, int) or n_ref < 2:
        raise UserError(f"scoring.reference_archs={n_ref!r} is not allowed; give a whole "
                        f"number of at least 2.")
    axis = AxisSetting(choice, train, zero_cost, n_ref, predictor)
    if axis.uses_batch and len(data.holdout) < zero_cost.batch_size:
        raise UserError(f"the training-free scores read the first scoring.batch_size="
                        f"{zero_cost.batch_size} images of the holdout split, which holds "
                        f"{len(data.holdout)}; lower scoring.batch_size or enlarge the split.")
    return axis


def _reference(setting: AxisSetting, ctx, path: Path | None, log):
    """The ensemble's reference sample: its members' values on `reference_archs` random
    architectures, read from `path` when it holds the same sample, else computed (and
    written there)."""
    from .._io import write_json_atomic
    from ..score import SCORES, BaseScores, RankReference, reference_archs

    members = list(setting.choice.members)
    archs = reference_archs(ctx.space, setting.reference_archs, setting.zero_cost.seed)
    want = {"score": setting.choice.key, "setting": setting.record(),
            "archs": [a.key for a in archs]}
    values = None
    if path is not None and path.is_file():
        try:
            stored = json.loads(path.read_text())
            if all(stored.get(k) == v for k, v in want.items()):
                values = {m: [float(v) for v in stored["values"][m]] for m in members}
        except (ValueError, KeyError, TypeError, OSError):
            values = None
    if values is None:
        log(f"ensemble {setting.choice.key}: scoring a reference sample of {len(archs)} "
            f"architectures of the space")
        base = BaseScores(members, ctx)
        rows = [base(a) for a in archs]
        values = {m: [r[m] for r in rows] for m in members}
        if path is not None:
            write_json_atomic(path, {**want, "values": values})
    return RankReference(values, {m: SCORES[m].direction for m in members})


def build_axis(setting: AxisSetting, space, data, costs, supernet_metrics=None,
               reference_path: Path | None = None, log=print):
    """The `AxisScore` of a run (arch -> value of its accuracy axis)."""
    from ..score import AxisScore, ScoreContext, fixed_batch

    batch = fixed_batch(data.holdout, setting.zero_cost.batch_size) \
        if setting.uses_batch else None
    ctx = ScoreContext(space, data.num_classes, costs, batch, setting.zero_cost,
                       supernet_metrics)
    reference = (_reference(setting, ctx, reference_path, log)
                 if setting.choice.is_ensemble else None)
    return AxisScore(setting.choice, ctx, reference, setting.predictor)
