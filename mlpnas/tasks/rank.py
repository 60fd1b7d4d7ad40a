"""`mlpnas rank RUN_DIR`: does the supernet order architectures the way standalone training
does? Picks architectures of a finished search, trains each standalone with several seeds
(resumable job by job, shared by several workers), scores them with the supernet and reports
the ranking statistics against the cheap proxies and the seed ceiling."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig

from .._io import atomic_target, write_json_atomic
from .._record import current as current_invocation
from ..cost import COST_NAMES, COST_TABLE
from ..errors import UserError
from ._common import file_lock, hardware, plain, refuse_links

PLAN_FILE = "plan.json"
RECIPE_OVERRIDES = ("epochs", "batch_size", "lr", "warmup_epochs")  # of the run's train.*
# rank.<option> -> cost: the regret's budgets on the counted costs (no latency table here)
BUDGET_OVERRIDES = {c.budget_option: c.name for c in COST_TABLE.values() if not c.measured}


def _say(msg: str) -> None:
    print(msg, flush=True)


def _int_option(rc: dict, key: str, low: int, why: str) -> int:
    value = rc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"rank.{key}={value} is not allowed: {why}; give a whole number of at "
                        f"least {low}.")
    return value


# rank.<key> that may be null (the run's own value), besides the recipe's (RECIPE_OVERRIDES,
# checked by the recipe): whole numbers, and numbers, with their least value
WHOLE_OR_NULL = {"recal_batches": 0}
NUMBER_OR_NULL = dict.fromkeys(BUDGET_OVERRIDES, 0)


def check_options(rc: dict) -> dict:
    """The rank options, checked before anything is read or written."""
    import math

    from ..rank import MIN_ARCHS

    _int_option(rc, "n_archs", MIN_ARCHS, f"fewer than {MIN_ARCHS} architectures cannot show "
                                          f"a ranking")
    _int_option(rc, "seeds", 1, "every architecture needs at least one standalone run")
    _int_option(rc, "worker", 0, "worker numbers start at 0")
    _int_option(rc, "pick_seed", 0, "it seeds the random picks")
    if rc.get("max_jobs") is not None:
        _int_option(rc, "max_jobs", 1, "it counts the jobs this call trains")
    frac = rc.get("random_fraction")
    if not isinstance(frac, (int, float)) or isinstance(frac, bool) or not 0 <= frac <= 1:
        raise UserError(f"rank.random_fraction={frac} is not a share; give a number from 0 "
                        f"to 1.")
    for key, low in WHOLE_OR_NULL.items():
        if rc.get(key) is not None:
            _int_option(rc, key, low, "it counts whole batches")
    for key, low in NUMBER_OR_NULL.items():
        v = rc.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                              or not math.isfinite(v) or v < low
                              or (v == 0 and key != "warmup_epochs")):
            raise UserError(f"rank.{key}={v} is not allowed; give a positive number, or null "
                            f"for the run's own value.")
    return rc


def standalone_recipe(run_recipe, rc: dict):
    """The run's training recipe with the rank.<key> overrides (standalone budget), checked
    under the rank options' names."""
    return run_recipe.with_overrides({key: rc.get(key) for key in RECIPE_OVERRIDES}, "rank")


def jobs_root(work: Path, recipe, data_cfg: dict) -> Path:
    """One folder of standalone jobs per (recipe, data): another budget never resumes these."""
    what = {"recipe": recipe.fingerprint(), "data": data_cfg}
    digest = hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:8]
    root = work / f"standalone-e{recipe.epochs}-{digest}"
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "recipe.json").is_file():
        write_json_atomic(root / "recipe.json", what)
    return root


def _budgets(results, rc: dict) -> tuple[dict[str, float], dict[str, float]]:
    """(the search's own budgets, which the picked architectures meet; the budgets of the
    regret: the search's, with the rank.max_* overrides)."""
    searched = {k: float(v) for k, v in results.run.get("budgets", {}).items()}
    regret = dict(searched)
    for key, name in BUDGET_OVERRIDES.items():
        if rc.get(key) is not None:
            regret[name] = float(rc[key])
    return searched, regret


def _plan(work: Path, request: dict, make, space) -> list[tuple[str, str]]:
    """The (key, source) pairs of this study: read from plan.json, or picked (under a lock,
    so workers started together pick once) and written there. A plan made with other options
    is refused rather than mixed with these; a plan file is checked entry by entry (it may
    have come with a received run folder, and its keys become folder names)."""
    from ..rank import plan_entries

    path = work / PLAN_FILE
    with file_lock(work / ".plan.lock"):
        if path.is_file():
            try:
                plan = json.loads(path.read_text())
            except (OSError, ValueError) as e:  # not JSON, not text, too deeply nested
                raise UserError(f"'{path}' is damaged ({type(e).__name__}); move it away to "
                                f"pick the architectures again (trained jobs are kept).") \
                    from None
            stored = plan.get("request") if isinstance(plan, dict) else None
            if not isinstance(stored, dict):
                raise UserError(f"'{path}' is not a ranking plan (it has no request); move it "
                                f"away to pick the architectures again (trained jobs are "
                                f"kept).")
            if stored != request:
                diff = next(k for k in request if stored.get(k) != request[k])
                raise UserError(
                    f"'{work}' holds a ranking plan made with rank.{diff}="
                    f"{stored.get(diff)!r}, not {request[diff]!r}; use the same options, or "
                    f"another rank.work_dir.")
            return plan_entries(plan.get("archs"), space, path)
        picked = make()
        write_json_atomic(path, {"request": request, "archs": picked})
        return plan_entries(picked, space, path)


def _supernet(run_cfg, run_recipe, space, data, other: str | None, trained: bool, device):
    """The run's trained supernet, or the one in `other` (its own recipe and seed, read from
    its checkpoint; same space and data required); (None, None, None) when the run trained
    none and no other is given."""
    from ..supernet import SupernetRecipe, load_trained_supernet
    from ..train import CHECKPOINT, load_checkpoint

    if not other and not trained:
        return None, None, None
    directory = Path(str(other or run_cfg.supernet_dir))
    recipe, seed = run_recipe, int(run_cfg.seed)
    if other:
        if not (directory / CHECKPOINT).is_file():
            raise UserError(f"rank.supernet_dir '{directory}' holds no trained supernet "
                            f"({CHECKPOINT}); train one with `mlpnas train`.")
        fp = load_checkpoint(directory / CHECKPOINT).get("fingerprint")
        fp = fp if isinstance(fp, dict) else {}
        stored = fp["recipe"] if isinstance(fp.get("recipe"), dict) else {}
        recipe = SupernetRecipe.of_trained(stored, run_cfg.train)
        seed = fp.get("seed") if isinstance(fp.get("seed"), int) else 0
    net = load_trained_supernet(space, directory, plain(run_cfg.data), recipe, seed,
                                data.num_classes, device)
    return net, directory, recipe.fingerprint()


def read_labels(path: str, space) -> pd.DataFrame:
    """Standalone accuracies measured elsewhere (rank.labels): a CSV with an `arch` column
    and one column per seed (seed0, seed1, ...), e.g. another report's ranking.csv. Every key
    is checked against the space."""
    from ..score import seed_columns

    p = Path(str(path)).expanduser()
    try:
        table = pd.read_csv(p)
    except (OSError, ValueError) as e:
        raise UserError(f"rank.labels='{path}' cannot be read ({e}); give a CSV with an "
                        f"'arch' column and seed0, seed1, ... columns of standalone "
                        f"accuracies.") from None
    seeds = seed_columns(table)
    if "arch" not in table or not seeds:
        raise UserError(f"rank.labels='{path}' needs an 'arch' column and seed0, seed1, ... "
                        f"columns of standalone accuracies.")
    table = table.dropna(subset=seeds)
    table["arch"] = [space.arch_from_key(str(k)).key for k in table["arch"]]
    table = table.drop_duplicates("arch")
    if len(table) < 5:
        raise UserError(f"rank.labels='{path}' has {len(table)} labelled architectures; a "
                        f"ranking needs at least 5.")
    if "source" not in table:
        table["source"] = "given"
    return table[["arch", "source", *seeds]].reset_index(drop=True)


def run(cfg: DictConfig):
    import torch

    from ..cost import CostModel, LatencySetting, flops_table, latency_table, machine_description
    from ..export import write_arch_file
    from ..plots import draw_ranking, ranking_info
    from ..rank import (
        MIN_ARCHS,
        Job,
        chance_warning,
        make_jobs,
        pick_archs,
        ranking_stats,
        read_keys,
        read_result,
        run_jobs,
        summary_lines,
    )
    from ..score import SCORES
    from ..search import RANKING_CSV, RANKING_JSON, RANKING_PNG, score_record
    from ..train import retrain
    from .export import run_context

    t_start = time.perf_counter()
    if not cfg.get("run_dir"):
        raise UserError("give the search run folder: mlpnas rank RUN_DIR.")
    rc = check_options(plain(cfg.rank))
    run_dir = Path(str(cfg.run_dir))
    run_cfg, space, data, results, run_recipe = run_context(run_dir)
    hw = hardware(cfg)
    work = Path(str(rc["work_dir"])) if rc.get("work_dir") else run_dir / "rank"
    out = Path(str(rc["out_dir"])) if rc.get("out_dir") else run_dir
    if not rc.get("work_dir") or not rc.get("out_dir"):  # writes into the run folder
        refuse_links(run_dir, "rank.work_dir and rank.out_dir")
    names = _score_names(rc)
    ensembles = _ensembles(rc, results)
    recipe = standalone_recipe(run_recipe.train, rc)
    # the supernet is read before any job is trained, so that a missing, unfinished or
    # foreign one is refused before the work rather than after it
    axis = score_record(results.run)
    axis_key = "supernet_acc" if axis["key"] == "accuracy" else axis["key"]
    trained = bool(axis.get("supernet_trained", True))
    dev = torch.device(hw.device)
    net, sn_dir, sn_recipe = _supernet(run_cfg, run_recipe, space, data,
                                       rc.get("supernet_dir"), trained, dev)
    work.mkdir(parents=True, exist_ok=True)

    # the run's cache_dir came with its config.yaml: read there, never written
    costs = CostModel(flops_table(space, data.num_classes, run_cfg.cache_dir, write=False))
    searched, budgets = _budgets(results, rc)
    if any(COST_TABLE[c].measured for c in budgets):
        setting = LatencySetting.from_cfg(run_cfg.hardware)
        costs = CostModel(costs.flops, latency_table(space, data.num_classes, setting,
                                                     run_cfg.cache_dir, write=False))

    def within(arch, limits=budgets) -> bool:
        c = costs.costs(arch)
        return all(c[k] <= v for k, v in limits.items())

    def feasible(arch) -> bool:  # for the search that ran: what random picks must meet
        return within(arch, searched)

    cost_name = next(o for o in results.objectives if o != "accuracy")
    device, amp = hw.device, hw.amp
    if rc.get("labels"):  # standalone accuracies measured elsewhere: nothing to train
        labels = read_labels(rc["labels"], space)
        plan = [{"arch": k, "source": src, **costs.costs(space.arch_from_key(k))}
                for k, src in zip(labels["arch"], labels["source"])]
        seeds = [c for c in labels.columns if c.startswith("seed")]
        accs = {k: list(row) for k, row in zip(labels["arch"], labels[seeds].to_numpy(float))}
        n_seeds, job_seconds, root = len(seeds), [], None
        _say(f"mlpnas rank: {len(plan)} architectures x {n_seeds} seeds of {run_dir}, "
             f"standalone accuracies from {rc['labels']} (nothing is trained)")
    else:
        request = {"n_archs": rc["n_archs"], "archs": rc.get("archs"),
                   "random_fraction": rc["random_fraction"], "pick_seed": rc["pick_seed"],
                   "budgets": searched}

        def make_plan() -> list[dict]:
            if rc.get("archs") is not None:
                picked = [(k, "given") for k in read_keys(rc["archs"], space)]
                if len(picked) < MIN_ARCHS:  # refused before any job, not by the report
                    raise UserError(f"rank.archs names {len(picked)} distinct "
                                    f"architecture(s), and a ranking needs at least "
                                    f"{MIN_ARCHS}; give more keys.")
            else:
                main = results.trials[results.trials["sampler"] == results.sampler]
                main = main[main[cost_name].notna()]
                picked = pick_archs(main, space, rc["n_archs"], rc["random_fraction"],
                                    cost_name, feasible, seed=int(rc["pick_seed"]))
            return [{"arch": k, "source": src, **costs.costs(space.arch_from_key(k))}
                    for k, src in picked]

        # the costs are the cost table's, never a number read from the plan file
        plan = [{"arch": k, "source": src, **costs.costs(space.arch_from_key(k))}
                for k, src in _plan(work, request, make_plan, space)]
        keys = [p["arch"] for p in plan]
        for key in keys:
            folder = work / "archs" / key
            if not (folder / "arch.json").is_file():
                write_arch_file(folder, space.to_netspec(space.arch_from_key(key),
                                                         data.num_classes),
                                key, {"space": space.name, "scale": space.scale,
                                      "data": data.name})
        data_cfg = plain(run_cfg.data)
        root = jobs_root(work, recipe, data_cfg)
        jobs = make_jobs(keys, rc["seeds"])
        _say(f"mlpnas rank: {len(keys)} architectures x {rc['seeds']} seeds of {run_dir} "
             f"(standalone: {recipe.epochs} epochs on {data.describe()}); jobs in {root}")

        def train_one(job: Job, folder: Path) -> dict[str, Any]:
            r = retrain(work / "archs" / job.key, data, recipe, folder, "scratch", job.seed,
                        device, amp, data_cfg, bool(cfg.progress),
                        lambda m: _say(f"  {m}"), eval_last_only=True)
            return {"val_acc": float(r.metrics[-1]["val_acc"]), "steps": r.steps,
                    "val_images": len(data.val)}

        done = run_jobs(jobs, root, train_one, worker=int(rc["worker"]), log=_say,
                        max_jobs=rc.get("max_jobs"), wait=bool(rc["wait"]))
        if done.remaining:
            _say(f"{done.ran} job(s) trained in this call, {done.remaining} left; run the "
                 f"same command again (or start more workers with rank.worker=K) to finish, "
                 f"then the report is written.")
            return None
        n_seeds = rc["seeds"]
        accs = {p["arch"]: [read_result(root, Job(p["arch"], s))["val_acc"]
                            for s in range(n_seeds)] for p in plan}
        job_seconds = [read_result(root, j)["seconds"] for j in jobs]

    # -- the scores --------------------------------------------------------------------------
    # the search's evaluation, with rank.recal_batches if given
    from ..train import EvalSetting

    sc = plain(run_cfg.search)
    if rc.get("recal_batches") is not None:
        sc["recal_batches"] = rc["recal_batches"]
    evaluation = EvalSetting.of(sc, recipe.num_workers, amp)
    recal = evaluation.recal_batches
    metrics = None
    if net is not None:
        from ..supernet import SubnetEvaluator

        metrics = SubnetEvaluator(net, data.holdout, data.train, evaluation, dev)
    keys = [p["arch"] for p in plan]
    values, seconds, zero_cost = _scores(keys, names, space, data, costs, plain(cfg.scoring),
                                         metrics, work)
    searched_axis = results.trials.drop_duplicates("arch").set_index("arch")["accuracy"]
    rows = []
    for p in plan:
        arch = space.arch_from_key(p["arch"])
        row = {"arch": p["arch"], "source": p["source"],
               **{c: p[c] for c in COST_NAMES if c in p}, "feasible": within(arch),
               **{n: values[n][p["arch"]] for n in values if n not in ("mflops", "params")},
               "search_score": float(searched_axis.get(p["arch"], float("nan")))}
        a = accs[p["arch"]]
        row.update({f"seed{s}": v for s, v in enumerate(a)})
        row["standalone_mean"] = sum(a) / len(a)
        rows.append(row)
    table = pd.DataFrame(rows)
    directions = {n: SCORES[n].direction for n in values}
    directions, seconds = _derived(table, ensembles, directions, seconds)
    stats = ranking_stats(table, directions, axis_key, seconds)
    budget_text = ("within " + ", ".join(f"{k} <= {v:g}" for k, v in budgets.items())
                   if budgets else "(no budget)")
    recipe_text = (f"standalone: {recipe.epochs} epochs, batch {recipe.batch_size}, "
                   f"lr {recipe.lr:g}, on {len(data.train)} '{data.name}' images"
                   if not rc.get("labels") else f"standalone accuracies from {rc['labels']}")
    report = {
        **stats, "space": space.name, "scale": space.scale, "data": data.name,
        "run_dir": str(run_dir), "axis_label": axis.get("label"),
        "scoring": zero_cost.record(),
        "supernet_dir": None if sn_dir is None else str(sn_dir),
        "supernet_recipe": sn_recipe, "recal_batches": recal, "budgets": budgets,
        "supernet_accuracy_on": f"holdout split of '{data.name}' ({len(data.holdout)} images)",
        "standalone_accuracy_on": (f"validation split of '{data.name}' ({len(data.val)} "
                                   f"images), after the last epoch, mean over seeds"
                                   if not rc.get("labels") else str(rc["labels"])),
        "standalone_recipe": {k: getattr(recipe, k) for k in (
            "epochs", "batch_size", "lr", "warmup_epochs", "weight_decay")},
        "standalone_jobs": None if root is None else str(root),
        "machine": f"{machine_description(device)}, torch {torch.__version__}",
        "report_seconds": round(time.perf_counter() - t_start, 1),
        "invocation": current_invocation(),  # the command line and overrides of this report
    }
    if job_seconds:
        report["standalone_seconds_total"] = round(sum(job_seconds), 1)
        report["standalone_seconds_per_job"] = round(sum(job_seconds) / len(job_seconds), 1)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_target(out / RANKING_CSV) as tmp:
        table.to_csv(tmp, index=False)
    write_json_atomic(out / RANKING_JSON, report)

    draw_ranking(ranking_info(out), out / RANKING_PNG)
    lines = summary_lines(stats, budget_text, recipe_text)
    lines += [w for w in [chance_warning(table["standalone_mean"], data.num_classes,
                                         len(data.val))] if w]
    if net is None:
        lines.append("  (no supernet scores: the search trained no supernet; give "
                     "rank.supernet_dir=DIR to score one)")
    lines.append(f"files: {out / RANKING_CSV}, {RANKING_JSON}, {RANKING_PNG}")
    if out.resolve() == run_dir.resolve():
        _cite_in_summary(run_dir, lines)
    _say("\n".join(lines))
    return report


def _score_names(rc: dict) -> list[str]:
    """The registered scores to report (rank.scores; null: all of them)."""
    from ..score import SCORES, parse_score

    chosen = rc.get("scores")
    if chosen is None:
        return list(SCORES)
    choice = parse_score(chosen, "rank.scores")
    if choice.is_predictor:
        raise UserError("rank.scores lists registered scores; the predictor's row is "
                        "written whenever there are enough architectures.")
    return [*dict.fromkeys([*choice.members, "mflops", "params"])]


def _ensembles(rc: dict, results) -> list:
    """The mean-rank rows to report: rank.ensembles and the run's own axis if it is one."""
    from ..score import parse_score
    from ..search import score_record

    out = [parse_score(e, "rank.ensembles") for e in (rc.get("ensembles") or [])]
    own = score_record(results.run).get("members") or []
    if len(own) > 1:
        out.append(parse_score(own))
    keyed = {c.key: c for c in out if not c.is_predictor}
    return list(keyed.values())


def _scores(keys, names, space, data, costs, scoring: dict, metrics, work: Path):
    """{name: {arch: value}}, {name: seconds per architecture} and the training-free setting,
    for the registered scores `names` that this run can compute. Training-free scores are
    computed one score at a time (so that each one's time is its own) and kept in
    work/scores-*.json, so that a second report computes nothing again."""
    from ..score import SCORES, BaseScores, ScoreContext, ZeroCostSetting, fixed_batch

    zero_cost = ZeroCostSetting.of(scoring)
    wanted = [n for n in names if SCORES[n].kind != "supernet" or metrics is not None]
    tf = [n for n in wanted if SCORES[n].kind == "training_free"]
    batch = fixed_batch(data.holdout, zero_cost.batch_size) if tf else None
    ctx = ScoreContext(space, data.num_classes, costs, batch, zero_cost, metrics)
    digest = hashlib.sha1(json.dumps({"scoring": zero_cost.record(), "data": data.name,
                                      "n": len(data.holdout), "space": space.name,
                                      "scale": space.scale}, sort_keys=True)
                          .encode()).hexdigest()[:8]
    cache_path = work / f"scores-{digest}.json"
    try:
        cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    except (OSError, ValueError, RecursionError):
        cache = {}
    if not isinstance(cache, dict):  # a damaged file (it may have come with the run folder)
        cache = {}
    values: dict[str, dict[str, float]] = {n: {} for n in wanted}
    seconds: dict[str, float] = {}
    for n in wanted:
        kind = SCORES[n].kind
        if kind == "supernet":
            continue
        spent = []
        if not isinstance(cache.get(n), dict):
            cache[n] = {}
        for k in keys:
            hit = cache[n].get(k)
            if not _cache_entry(hit):  # none yet, or not [value, seconds]: compute it
                base = BaseScores([n], ctx)
                t = time.perf_counter()
                v = base(space.arch_from_key(k))[n]
                hit = [v, time.perf_counter() - t]
                cache[n][k] = hit
            values[n][k] = float(hit[0])
            spent.append(float(hit[1]))
        seconds[n] = sum(spent) / len(spent) if kind == "training_free" else 0.0
        if kind == "training_free":
            write_json_atomic(cache_path, cache)
    sn = [n for n in wanted if SCORES[n].kind == "supernet"]
    if sn:
        base = BaseScores(sn, ctx)
        for k in keys:
            got = base(space.arch_from_key(k))
            for n in sn:
                values[n][k] = got[n]
        per = base.seconds.get("supernet", 0.0) / max(len(keys), 1)
        seconds.update({n: per for n in sn})  # one evaluation gives both
    return values, seconds, zero_cost


def _cache_entry(hit) -> bool:
    """Whether a scores-*.json entry is [value, seconds] (finite numbers)."""
    import math

    return (isinstance(hit, list) and len(hit) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) for v in hit))


def _derived(table: pd.DataFrame, ensembles, directions: dict, seconds: dict):
    """Add the ensembles' mean ranks and the predictor's cross-validated estimates to
    `table` (columns named by their keys); returns the directions and seconds of all."""
    from ..rank import score_column
    from ..score import (
        MIN_LABELLED,
        cross_validated,
        feature_scores,
        feature_table,
        mean_rank,
        seed_columns,
    )

    directions, seconds = dict(directions), dict(seconds)
    for choice in ensembles:
        members = list(choice.members)
        if not all(m in directions for m in members):
            continue  # a member this report could not compute (a supernet score without one)
        table[choice.key] = mean_rank({m: table[score_column(m)] for m in members},
                                      {m: directions[m] for m in members})
        directions[choice.key] = "maximize"
        seconds[choice.key] = sum(seconds.get(m) or 0.0 for m in members)
    features = feature_scores()
    if len(table) >= MIN_LABELLED and all(f in directions for f in features):
        truth = table[seed_columns(table)].to_numpy(float).mean(axis=1)
        x = feature_table(list(table["arch"]),
                          {f: table[score_column(f)] for f in features})
        table["predictor"] = cross_validated(x, truth)
        directions["predictor"] = "maximize"
        seconds["predictor"] = sum(seconds.get(f) or 0.0 for f in features)
    return directions, seconds


RANKING_HEADER = "== ranking of the scores (mlpnas rank) =="
EARLIER_HEADERS = ("== supernet ranking (mlpnas rank) ==",)  # what earlier versions wrote


def _cite_in_summary(run_dir: Path, lines: list[str]) -> None:
    """Put the ranking table at the end of the run's summary.txt (replacing an earlier one),
    so that the search summary says how far its accuracy axis can be trusted."""
    from .._io import write_text_atomic

    path = run_dir / "summary.txt"
    if not path.is_file():
        return
    text = path.read_text(errors="replace")
    for header in (RANKING_HEADER, *EARLIER_HEADERS):
        text = text.split(header)[0]
    text = text.rstrip("\n")
    write_text_atomic(path, "\n".join([text, "", RANKING_HEADER, *lines]) + "\n")
