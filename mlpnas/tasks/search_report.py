"""What a search run writes at its end: trials.csv, pareto.csv, run.json, plots, summary.txt
and the exported Pareto architectures."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .._io import write_text_atomic
from ..cost import COST_NAMES


def accuracy_source(data, axis) -> str:
    """Where a run's accuracy axis comes from, in words (model cards, run.json)."""
    from ..score import SCORES

    members = axis.choice.base_scores
    parts = []
    if any(SCORES[m].kind == "supernet" for m in members):
        parts.append(f"holdout split of '{data.name}' ({len(data.holdout)} images, never "
                     f"trained on), weights inherited from the supernet")
    if axis.uses_batch:
        z = axis.zero_cost
        parts.append(f"the first {z.batch_size} images of the holdout split of '{data.name}', "
                     f"at initialisation, mean over {z.inits} initialisations")
    if any(SCORES[m].kind == "cost" for m in members) or axis.predictor is not None:
        parts.append("the space's cost tables")
    if axis.predictor is not None:
        parts.append(axis.predictor.describe())
    return "; ".join(parts)


def weights_note(supernet_dir) -> str:
    if supernet_dir is None:
        return ("fresh initialisation: no supernet was trained for this search; train them "
                "with `mlpnas retrain PATH`")
    return f"inherited from the supernet {supernet_dir}"


def export_infos(rows: pd.DataFrame, space, data, lat_setting, supernet_dir, axis) -> dict:
    """Model-card information of every architecture in `rows` (trials.csv-like rows)."""
    infos = {}
    for _, row in rows.iterrows():
        metrics = {k: row[k] for k in (*COST_NAMES, "latency_ms_measured")
                   if k in row and pd.notna(row[k])}
        if "accuracy" in row and pd.notna(row["accuracy"]):
            metrics["score"] = axis.choice.key
            metrics["score_value"] = float(row["accuracy"])
            metrics["score_label"] = axis.choice.describe()
        metrics["score_on"] = accuracy_source(data, axis)
        if lat_setting is not None:
            metrics["latency_setting"] = lat_setting.describe()
        infos[row["arch"]] = {"space": space.name, "scale": space.scale, "data": data.name,
                              "preprocessing": data.preprocessing,
                              "metrics": metrics, "weights_from": weights_note(supernet_dir),
                              "fresh_weights": supernet_dir is None}
    return infos


def export_archs(net, space, keys, out: Path, infos: dict, data, setting, seed: int,
                 onnx: bool = False) -> list[Path]:
    """Export `keys` with the supernet's weights (BatchNorm re-estimated), or, without a
    supernet, freshly initialised (seeded) for `mlpnas retrain` to train."""
    if net is not None:
        from ..supernet import export_subnets

        return export_subnets(net, space, list(keys), out, infos, data.train, setting,
                              next(net.parameters()).device, onnx=onnx)
    from ..export import export_fresh

    return [export_fresh(space.to_netspec(space.arch_from_key(k), data.num_classes), out / k,
                         k, infos.get(k, {}), seed, onnx=onnx) for k in keys]


def write_report(run, frames: dict[str, pd.DataFrame], sampler: str, net,
                 extra_lines: list[str]) -> str:
    """Write the run's files from its trials tables (one per study); returns the summary."""
    from ..cost import LatencySetting, measure_archs
    from ..plots import plot_run
    from ..search import (
        EXPORT_DIR,
        PARETO_FILE,
        SUMMARY_FILE,
        TRIALS_FILE,
        earlier_sessions,
        hv_reference,
        hypervolume,
        pareto_frame,
        write_run,
        write_table,
    )

    cfg, sc, space, data, out = run.cfg, run.sc, run.space, run.data, run.out
    objectives, budgets, costs, axis = run.objectives, run.budgets, run.costs, run.axis
    direction = axis.choice.direction
    trials = pd.concat(list(frames.values()), ignore_index=True)
    main = frames[sampler]
    pareto = pareto_frame(main, objectives, direction)
    scales = {c: budgets.get(c) or costs.extreme(space, c, largest=True)[0]
              for c in objectives if c != "accuracy"}
    reference = hv_reference(list(frames.values()), objectives, scales, direction)
    hv = {name: hypervolume(f, objectives, reference, direction) for name, f in frames.items()}
    improvement = None
    if "random" in hv and sampler != "random" and hv["random"] > 0:
        improvement = (hv[sampler] - hv["random"]) / hv["random"]

    lat_setting = run.latency_setting
    if sc["measure_pareto_latency"] and len(pareto):
        lat_setting = lat_setting or LatencySetting.from_cfg(cfg.hardware)
        pareto["latency_ms_measured"] = measure_archs(
            space, [space.arch_from_key(k) for k in pareto["arch"]], data.num_classes,
            lat_setting)

    key = axis.choice.key
    write_table(out, TRIALS_FILE, trials, key)
    write_table(out, PARETO_FILE, pareto, key)
    timing = run.timing
    sessions = [*earlier_sessions(out), timing]
    write_run(out, {
        "space": space.name, "scale": space.scale, "data": data.name,
        "num_classes": data.num_classes, "sampler": sampler, "objectives": objectives,
        "budgets": budgets, "score": axis.record(), "hv_reference": reference,
        "hypervolume": hv, "improvement_over_random": improvement,
        "studies": dict(run.study_names),  # {sampler: Optuna study name}; none: meta-kernel
        "n_trials": int(sc["n_trials"]), "seed": run.seed,
        "supernet_dir": None if run.supernet_dir is None else str(run.supernet_dir),
        "seeds": {k: a.key for k, a in space.uniform_archs().items()},
        "accuracy_on": accuracy_source(data, axis),
        "latency_setting": None if lat_setting is None else lat_setting.record(),
        "sessions": sessions,
    })
    plot_run(out)

    exported = []
    if sc["export_pareto"] and len(pareto):
        infos = export_infos(pareto, space, data, lat_setting, run.supernet_dir, axis)
        exported = export_archs(net, space, pareto["arch"], out / EXPORT_DIR, infos, data,
                                run.eval, run.seed)

    text = summary_text(run, sampler, trials, pareto, hv, improvement, sessions,
                        len(exported), reference)
    text = "\n".join([text, *extra_lines]) if extra_lines else text
    write_text_atomic(out / SUMMARY_FILE, text + "\n")
    return text


def _time_line(sessions: list[dict]) -> str:
    t = sessions[-1]
    studies = t.get("studies", {})
    study_s = sum(v["seconds"] for v in studies.values())
    other = max(study_s - t.get("scoring_s", 0.0) - t.get("cost_model_s", 0.0), 0.0)
    line = (f"time: supernet {t.get('supernet_s', 0):.0f} s, "
            + ", ".join(f"{k} study {v['seconds']:.0f} s ({v['trials_run']} trials run)"
                        for k, v in studies.items())
            + f"; in the studies: scoring {t.get('scoring_s', 0):.0f} s "
            f"({t.get('scorings', 0)} architectures scored, {t.get('cache_hits', 0)} cached"
            + (f", reference sample {t['reference_s']:.0f} s" if t.get("reference_s") else "")
            + f"), cost model {t.get('cost_model_s', 0):.2f} s, Optuna and the rest "
            f"{other:.0f} s; total {t.get('total_s', 0):.0f} s")
    if len(sessions) > 1:
        line += (f" (this session; {len(sessions)} sessions so far, "
                 f"{sum(s.get('total_s', 0) for s in sessions):.0f} s in all)")
    return line


def summary_text(run, sampler, trials, pareto, hv, improvement, sessions, n_exported,
                 reference) -> str:
    space, data, budgets, out = run.space, run.data, run.budgets, run.out
    choice = run.axis.choice
    main = trials[trials["sampler"] == sampler]
    feasible = main[main["feasible"].astype(bool)].drop_duplicates("arch")
    lines = [f"== mlpnas search: {space.name} ({space.scale}) on {data.name} ==",
             f"{len(main)} {sampler} trials, {len(feasible)} feasible distinct architectures"
             + (f" under {', '.join(f'{k} <= {v:g}' for k, v in budgets.items())}"
                if budgets else ""),
             f"accuracy axis: {choice.describe()}"]
    best = feasible.sort_values("accuracy", ascending=choice.direction == "minimize").head(5)
    if len(best):
        lines.append(f"best feasible architectures by {choice.key}:")
        for _, r in best.iterrows():
            extra = "".join(f", {c} {r[c]:.4g}" for c in COST_NAMES
                            if c in r and pd.notna(r[c]))
            lines.append(f"  {r['accuracy']:.4f}  {r['arch']}{extra}")
    lines.append(f"Pareto front: {len(pareto)} architectures (pareto.csv), "
                 f"{n_exported} exported to {out / 'exported'}"
                 + ("" if run.supernet_dir is not None or not n_exported
                    else " with fresh weights (no supernet was trained)"))
    ref = ", ".join(f"{choice.key if k == 'accuracy' else k} {v:.4g}"
                    for k, v in reference.items() if k != "accuracy_span")
    hv_line = f"hypervolume (reference point {ref}): {sampler} {hv[sampler]:.5f}"
    if "random" in hv and sampler != "random":
        hv_line += f", random sampling at equal trials {hv['random']:.5f}"
        if improvement is not None:
            hv_line += f" ({100 * improvement:+.1f}% relative)"
    lines.append(hv_line)
    lines.append(_time_line(sessions))
    pngs = ", ".join(sorted(p.name for p in Path(out).glob("*.png")))
    lines.append(f"results: {out}/trials.csv, pareto.csv, run.json, {pngs}, exported/")
    return "\n".join(lines)
