"""What a search run writes at its end: trials.csv, pareto.csv, run.json, plots, summary.txt
and the exported Pareto architectures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .._io import atomic_target, write_json_atomic, write_text_atomic
from ._common import plain

SUMMARY_FILE = "summary.txt"


def accuracy_source(data) -> str:
    return (f"holdout split of '{data.name}' ({len(data.holdout)} images, never trained on), "
            f"weights inherited from the supernet")


def export_infos(rows: pd.DataFrame, space, data, lat_setting, supernet_dir) -> dict:
    """Model-card information of every architecture in `rows` (trials.csv-like rows)."""
    infos = {}
    for _, row in rows.iterrows():
        metrics = {k: row[k] for k in ("accuracy", "mflops", "params_m", "latency_ms",
                                       "latency_ms_measured") if k in row and pd.notna(row[k])}
        metrics["accuracy_on"] = accuracy_source(data)
        if lat_setting is not None:
            metrics["latency_setting"] = lat_setting.describe()
        infos[row["arch"]] = {"space": space.name, "scale": space.scale, "data": data.name,
                              "preprocessing": data.preprocessing,
                              "metrics": metrics, "weights_from": f"supernet {supernet_dir}"}
    return infos


def write_report(cfg, space, data, costs, studies, sampler, objectives, budgets, out: Path,
                 net, setting, timing) -> str:
    from ..cost import LatencySetting, measure_archs
    from ..plots import plot_run
    from ..search import hv_reference, hypervolume, pareto_frame, trials_frame

    sc = plain(cfg.search)
    frames = {name: trials_frame(study, name) for name, study in studies.items()}
    trials = pd.concat(list(frames.values()), ignore_index=True)
    main = frames[sampler]
    pareto = pareto_frame(main, objectives)
    scales = {c: budgets.get(c) or costs.extreme(space, c, largest=True)[0]
              for c in objectives if c != "accuracy"}
    reference = hv_reference(list(frames.values()), objectives, scales)
    hv = {name: hypervolume(f, objectives, reference) for name, f in frames.items()}
    improvement = None
    if "random" in hv and sampler != "random" and hv["random"] > 0:
        improvement = (hv[sampler] - hv["random"]) / hv["random"]

    lat_setting = setting
    if sc.get("measure_pareto_latency", True) and len(pareto):
        lat_setting = setting or LatencySetting.from_cfg(cfg.hardware)
        pareto["latency_ms_measured"] = measure_archs(
            space, [space.arch_from_key(k) for k in pareto["arch"]], data.num_classes,
            lat_setting)

    for name, frame in (("trials.csv", trials), ("pareto.csv", pareto)):
        with atomic_target(out / name) as tmp:
            frame.to_csv(tmp, index=False)

    sessions = []
    if (out / "run.json").is_file():  # earlier invocations of this run (resumed studies)
        try:
            sessions = json.loads((out / "run.json").read_text()).get("sessions", [])
        except (json.JSONDecodeError, OSError):
            sessions = []
    sessions = [*sessions, timing]
    run = {
        "space": space.name, "scale": space.scale, "data": data.name,
        "num_classes": data.num_classes, "sampler": sampler, "objectives": objectives,
        "budgets": budgets, "hv_reference": reference, "hypervolume": hv,
        "studies": {name: study.study_name for name, study in studies.items()},
        "improvement_over_random": improvement, "n_trials": int(sc["n_trials"]),
        "seed": int(cfg.seed), "supernet_dir": str(cfg.supernet_dir),
        "seeds": {k: a.key for k, a in space.uniform_archs().items()},
        "accuracy_on": accuracy_source(data),
        "latency_setting": None if lat_setting is None else lat_setting.record(),
        "sessions": sessions,
    }
    write_json_atomic(out / "run.json", run)
    plot_run(out)

    exported = []
    if sc.get("export_pareto", True) and len(pareto):
        infos = export_infos(pareto, space, data, lat_setting, cfg.supernet_dir)
        from ..supernet import export_subnets

        device = next(net.parameters()).device
        exported = export_subnets(net, space, list(pareto["arch"]), out / "exported", infos,
                                  data.train, int(sc["eval_batch_size"]),
                                  int(sc["recal_batches"]), device)

    text = summary_text(space, data, sampler, objectives, budgets, trials, pareto, hv,
                        improvement, timing, out, len(exported), reference)
    text = with_all_sessions(text, sessions)
    write_text_atomic(out / SUMMARY_FILE, text + "\n")
    return text


def summary_text(space, data, sampler, objectives, budgets, trials, pareto, hv, improvement,
                 timing, out, n_exported, reference) -> str:
    main = trials[trials["sampler"] == sampler]
    feasible = main[main["feasible"]].drop_duplicates("arch")
    lines = [f"== mlpnas search: {space.name} ({space.scale}) on {data.name} ==",
             f"{len(main)} {sampler} trials, {len(feasible)} feasible distinct architectures"
             + (f" under {', '.join(f'{k} <= {v:g}' for k, v in budgets.items())}"
                if budgets else "")]
    best = feasible.sort_values("accuracy", ascending=False).head(5)
    if len(best):
        lines.append("best feasible architectures (holdout accuracy, inherited weights):")
        for _, r in best.iterrows():
            extra = "".join(f", {c} {r[c]:.4g}" for c in ("mflops", "params_m", "latency_ms")
                            if c in r and pd.notna(r[c]))
            lines.append(f"  {r['accuracy']:.4f}  {r['arch']}{extra}")
    lines.append(f"Pareto front: {len(pareto)} architectures (pareto.csv), "
                 f"{n_exported} exported to {out / 'exported'}")
    ref = ", ".join(f"{k} {v:.4g}" for k, v in reference.items())
    hv_line = f"hypervolume (reference point {ref}): {sampler} {hv[sampler]:.5f}"
    if "random" in hv and sampler != "random":
        hv_line += f", random sampling at equal trials {hv['random']:.5f}"
        if improvement is not None:
            hv_line += f" ({100 * improvement:+.1f}% relative)"
    lines.append(hv_line)
    studies = timing["studies"]
    study_s = sum(v["seconds"] for v in studies.values())
    other = max(study_s - timing["evaluation_s"] - timing["cost_model_s"], 0.0)
    lines.append(
        f"time: supernet {timing['supernet_s']:.0f} s, "
        + ", ".join(f"{k} study {v['seconds']:.0f} s ({v['trials_run']} trials run)"
                    for k, v in studies.items())
        + f"; in the studies: accuracy evaluation {timing['evaluation_s']:.0f} s "
        f"({timing['evaluations']} evaluations, {timing['cache_hits']} cached), cost model "
        f"{timing['cost_model_s']:.2f} s, Optuna and the rest {other:.0f} s; total "
        f"{timing['total_s']:.0f} s")
    pngs = ", ".join(sorted(p.name for p in Path(out).glob("*.png")))
    lines.append(f"results: {out}/trials.csv, pareto.csv, run.json, {pngs}, exported/")
    return "\n".join(lines)


def with_all_sessions(text: str, sessions: list[dict]) -> str:
    """After a resumed run, the time line covers this session only: add one for all the
    sessions of the run (run.json keeps each)."""
    if len(sessions) < 2:
        return text
    total = sum(float(t.get("total_s", 0.0)) for t in sessions)
    supernet = sum(float(t.get("supernet_s", 0.0)) for t in sessions)
    studies = sum(float(v.get("seconds", 0.0)) for t in sessions
                  for v in t.get("studies", {}).values())
    line = (f"time of all {len(sessions)} sessions of this run (this one above): supernet "
            f"{supernet:.0f} s, studies {studies:.0f} s, total {total:.0f} s")
    lines = text.splitlines()
    at = next((i + 1 for i, x in enumerate(lines) if x.startswith("time: ")), len(lines))
    return "\n".join([*lines[:at], line, *lines[at:]])


def append_summary(out: Path, lines: list[str]) -> str:
    """Add `lines` to the summary.txt that write_report has just written; returns the text."""
    text = (out / SUMMARY_FILE).read_text().rstrip("\n") + "\n" + "\n".join(lines)
    write_text_atomic(out / SUMMARY_FILE, text + "\n")
    return text
