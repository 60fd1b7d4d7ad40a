"""Every file of a run folder may come from someone else: a ranking plan, config.yaml, the
result tables, the weights of an export, links planted in the folder. Each is checked before
any work, refused in one sentence, and never steers a write outside the run folder."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from helpers import run_task

from mlpnas.errors import UserError
from mlpnas.export import export_model, load_exported
from mlpnas.models import WEIGHTS_FILE, MlpBackbone, published_spec

RANK = ["progress=false", "hardware.threads=1", "rank.n_archs=5", "rank.seeds=1",
        "rank.max_jobs=1"]


def _keys(run: Path) -> list[str]:
    import pandas as pd

    return list(pd.read_csv(run / "trials.csv")["arch"].drop_duplicates()[:4])


def _plan(run: Path, first: str) -> None:
    entries = [{"arch": k, "source": "front", "mflops": 0.1, "params_m": 0.01}
               for k in [first, *_keys(run)]]
    request = {"n_archs": 5, "archs": None, "random_fraction": 0.34, "pick_seed": 0,
               "budgets": {"mflops": 0.15}}
    (run / "rank").mkdir()
    (run / "rank" / "plan.json").write_text(json.dumps({"request": request, "archs": entries}))


@pytest.mark.parametrize("key", ["ABSOLUTE", "../../victim", "c3r1_c3r1/../../victim",
                                 "c3r1", "c3r1_c3r1 "])
def test_a_ranking_plan_cannot_steer_rank_outside_the_run(tiny_search_run_copy, tmp_path,
                                                          key):
    """A received run folder whose rank/plan.json names a folder (absolute or `..`) instead
    of an architecture key is refused before any job is trained; nothing is written there."""
    run = tiny_search_run_copy
    victim = tmp_path / "victim"
    victim.mkdir()
    shutil.copy(next((run / "exported").glob("*/arch.json")), victim / "arch.json")
    _plan(run, str(victim) if key == "ABSOLUTE" else key)
    with pytest.raises(UserError, match=r"plan\.json' is not a ranking plan of this run "
                                        r"\(entry 0, .* is not an architecture key of space "
                                        r"'tiny'\); move it away"):
        run_task("rank", [run, *RANK])
    assert sorted(p.name for p in victim.iterdir()) == ["arch.json"]
    assert not list((run / "rank").glob("standalone-*"))


@pytest.mark.parametrize("text,message", [
    ("garbage{", "plan.json' is damaged (JSONDecodeError)"),
    ("[1, 2]", "plan.json' is not a ranking plan (it has no request)"),
])
def test_a_damaged_ranking_plan_is_one_sentence(tiny_search_run_copy, text, message):
    run = tiny_search_run_copy
    (run / "rank").mkdir()
    (run / "rank" / "plan.json").write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_task("rank", [run, *RANK])


@pytest.mark.parametrize("keys,message", [
    ("[c3r1_c3r1,c3r1_c5r1]", "rank.archs names 2 distinct architecture(s)"),
    ("FILE:" + "c3r1_c3r1\n" * 5, "rank.archs names 1 distinct architecture(s)"),
    ("FILE:", "rank.archs names 0 distinct architecture(s)"),
    ("FILE:\xff\xfe\x00binary", "cannot be read as text"),
    ('FILE:arch,acc\n"c3r1_c3r1,1\n', "is not a readable CSV"),
    ("FILE:key,acc\nc3r1_c3r1,1\n", "is a CSV without an 'arch' column"),
])
def test_rank_archs_are_refused_before_any_job(tiny_search_run_copy, tmp_path, keys, message):
    """Fewer than five distinct architectures cannot show a ranking: refused before any
    standalone job is trained (the report used to crash after training them); a file of
    keys that is not text or not a CSV with an 'arch' column is one sentence too."""
    run = tiny_search_run_copy
    if keys.startswith("FILE:"):
        path = tmp_path / "keys.txt"
        path.write_bytes(keys[5:].encode("latin-1"))
        keys = str(path)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_task("rank", [run, *RANK, f"rank.archs={keys}"])
    assert not list((run / "rank").glob("standalone-*"))


def test_a_damaged_job_result_is_trained_again_not_reported(tmp_path):
    from mlpnas.rank import Job, read_result

    job = Job("c3r1_c3r1", 0)
    folder = job.folder(tmp_path)
    folder.mkdir(parents=True)
    for text in ("[]", '{"val_acc": "abc", "seconds": 1}', '{"val_acc": NaN, "seconds": 1}',
                 '{"val_acc": 0.5}', "\xff"):
        (folder / "result.json").write_text(text, encoding="latin-1")
        assert read_result(tmp_path, job) is None
    (folder / "result.json").write_text('{"val_acc": 0.5, "seconds": 1.0}')
    assert read_result(tmp_path, job)["val_acc"] == 0.5


def test_another_supernet_is_checked_before_any_job(tiny_search_run_copy, tmp_path):
    with pytest.raises(UserError, match="rank.supernet_dir .* holds no trained supernet"):
        run_task("rank", [tiny_search_run_copy, *RANK, f"rank.supernet_dir={tmp_path}"])
    assert not (tiny_search_run_copy / "rank").exists()


LAUGHS = "".join(["a: &a [x, x, x, x, x, x, x, x, x]\n"] +
                 [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                  for p, c in zip("abcdefgh", "bcdefghi")])


@pytest.mark.parametrize("change,message", [
    (lambda t: t + "evil: !!python/object/apply:os.system ['touch pwned']\n",
     "holds a YAML tag at line"),
    (lambda t: t + LAUGHS, "uses YAML anchors or aliases (line"),
    (lambda t: t.replace("seed: 0", "seed: ${oc.env:HOME}"),
     "holds an interpolation ('${oc.env:HOME}'), which mlpnas never records"),
    (lambda t: t + "broken: [unclosed\n", "is not valid YAML"),
    (lambda t: "supernet_dir: 5\n", "has no 'space' section"),
    (lambda t: "- 1\n- 2\n", "is not a mapping of settings"),
    (lambda t: t.replace("lr: 0.002", "lr: .inf"),
     "holds a setting mlpnas refuses (train.lr=inf is not a finite number"),
])
def test_a_received_config_yaml_is_plain_data_or_refused(tiny_search_run_copy, tmp_path,
                                                         change, message):
    """config.yaml is read as plain data: Python tags, YAML aliases (a "billion laughs" file
    used to crash export), interpolations pulling in this machine's environment, damaged
    files and out-of-range settings are one sentence, before any work."""
    run = tiny_search_run_copy
    path = run / "config.yaml"
    path.write_text(change(path.read_text()))
    with pytest.raises(UserError) as e:
        run_task("export", [run, "export.measure_latency=false"], cwd=tmp_path)
    assert message in str(e.value) and "config.yaml" in str(e.value)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name,change,message", [
    ("run.json", lambda t: t[:100], "run.json' is damaged or was not written by mlpnas "
                                    "(not JSON"),
    ("run.json", lambda t: "[1, 2]", "(not a JSON object)"),
    ("run.json", lambda t: "{}", "(no sampler, or no known objectives"),
    ("trials.csv", lambda t: t[:150], "trials.csv' is damaged or was not written by mlpnas "
                                      "(its last line is cut short)"),
    ("trials.csv", lambda t: "garbage\n1,2\n", "(no 'number' column)"),
    ("trials.csv", lambda t: t.replace(",True,", ",maybe,", 1),
     "(its 'feasible' column holds values other than True and False)"),
    ("pareto.csv", lambda t: 'arch,accuracy\n"x,1\n', "pareto.csv' is damaged"),
    ("run.json", lambda t: t.replace('"budgets": {', '"budgets": {"foo": 1, '),
     "(a budget on something other than a cost)"),
    ("ranking.json", lambda t: "garbage", "ranking.json' is damaged or was not written by "
                                          "mlpnas (not JSON: JSONDecodeError); run the same "
                                          "`mlpnas rank` again"),
    ("ranking.json", lambda t: "{}", "ranking.csv' is damaged or was not written by mlpnas "
                                     "(it or ranking.json lacks what `mlpnas rank` writes"),
])
def test_damaged_result_files_are_one_sentence(tiny_search_run_copy, name, change, message):
    run = tiny_search_run_copy
    path = run / name
    if name.startswith("ranking"):
        (run / "ranking.csv").write_text("arch\nc3r1_c3r1\n")
        path.write_text("")
    path.write_text(change(path.read_text()))
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_task("plot", [run])


def test_trials_of_another_space_are_refused_before_they_name_a_folder(tiny_search_run_copy):
    run = tiny_search_run_copy
    text = (run / "trials.csv").read_text()
    key = text.splitlines()[1].split(",")[2]
    (run / "trials.csv").write_text(text.replace(f",{key},", ",../../escape,", 1))
    for verb, args in (("export", ["export.measure_latency=false"]), ("rank", RANK)):
        with pytest.raises(UserError, match="trials.csv' lists '../../escape', which is not "
                                            "an architecture key of space 'tiny'"):
            run_task(verb, [run, *args])


@pytest.mark.parametrize("link,verb", [("exported", "export"), ("rank", "rank"),
                                       ("retrain-scratch-seed0", "retrain")])
def test_links_planted_in_a_received_run_are_refused(tiny_search_run_copy, tmp_path, link,
                                                     verb):
    """mlpnas writes no links into its folders, and does not write through one it finds in
    a folder it writes to: `exported`, `rank` or a retraining folder linked elsewhere."""
    run = tiny_search_run_copy
    outside = tmp_path / "outside"
    outside.mkdir()
    export = next((run / "exported").iterdir())
    if link == "exported":
        shutil.rmtree(run / "exported")
    where = export / link if verb == "retrain" else run / link
    where.symlink_to(outside, target_is_directory=True)
    args = {"export": [run, "export.measure_latency=false"], "rank": [run, *RANK],
            "retrain": [export, "data.train_size=64", "progress=false"]}[verb]
    with pytest.raises(UserError, match=f"'{where}' is a symbolic link .* mlpnas never writes "
                                        f"into a run folder"):
        run_task(verb, args)
    assert list(outside.iterdir()) == []


def test_the_cache_dir_of_a_received_run_is_only_read(tiny_search_run_copy, tmp_path):
    run = tiny_search_run_copy
    elsewhere = tmp_path / "their_cache"
    path = run / "config.yaml"
    text = path.read_text()
    recorded = next(line for line in text.splitlines() if line.startswith("cache_dir:"))
    path.write_text(text.replace(recorded, f"cache_dir: {elsewhere}"))
    run_task("export", [run, "export.measure_latency=false", "export.arch=c3r1_c3r1"])
    assert not elsewhere.exists()


# -- exported weights ------------------------------------------------------------------------
def _export(tmp_path) -> Path:
    folder = tmp_path / "e"
    export_model(MlpBackbone(published_spec("test_cyclemlp")), folder, "k")
    return folder


def _rewrite(folder: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    state = change(load_file(str(folder / WEIGHTS_FILE)))
    save_file(state, str(folder / WEIGHTS_FILE))


@pytest.mark.parametrize("change,message", [
    (lambda s: {k: v.double() for k, v in s.items()}, "is stored as F64, not F32"),
    (lambda s: {k: v.half() if v.is_floating_point() else v for k, v in s.items()},
     "is stored as F16, not F32"),
    (lambda s: {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                for k, v in s.items()}, "hold values that are not finite"),
    (lambda s: {**s, "../../../../escape": torch.zeros(1)}, "(unexpected '../../../../escape')"),
    (lambda s: {k: v for k, v in s.items() if k != "head.bias"}, "(missing 'head.bias')"),
])
def test_exported_weights_are_checked_by_both_routes(tmp_path, change, message):
    """load_exported and timm's `mlpnas_exported` read the weights through one checked
    reader: other dtypes, NaN, unknown or missing tensors are the same sentence."""
    import timm

    import mlpnas.models  # noqa: F401 (registers mlpnas_exported)

    folder = _export(tmp_path)
    _rewrite(folder, change)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_exported(folder)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder))


def test_a_damaged_weights_file_is_the_same_sentence_through_timm(tmp_path):
    import timm

    import mlpnas.models  # noqa: F401

    folder = _export(tmp_path)
    data = (folder / WEIGHTS_FILE).read_bytes()
    (folder / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    for load in (lambda: load_exported(folder),
                 lambda: timm.create_model("mlpnas_exported", pretrained=True,
                                           export_path=str(folder))):
        with pytest.raises(UserError, match="model.safetensors' cannot be read .*export the "
                                            "architecture again"):
            load()
    with pytest.raises(UserError, match=f"'{tmp_path / 'nowhere'}' does not exist"):
        load_exported(tmp_path / "nowhere")


@pytest.mark.parametrize("change,message", [
    (lambda r: [r], "(it is not an object with an 'arch' key and a 'netspec')"),
    (lambda r: {k: v for k, v in r.items() if k != "arch"}, "with an 'arch' key"),
    (lambda r: {**r, "netspec": {**r["netspec"], "meta": "DEEP"}}, "nested too deeply"),
    (lambda r: {**r, "netspec": {**r["netspec"], "skip_lam": float("nan")}},
     "skip_lam must be a finite number"),
    (lambda r: {**r, "preprocessing": {"mean": "abc"}},
     "its preprocessing mean is not a list of numbers"),
    (lambda r: {**r, "preprocessing": {"crop_pct": 1e9}},
     "its preprocessing crop_pct is not a number in (0, 1]"),
])
def test_arch_files_of_the_wrong_shape_are_one_sentence(tmp_path, change, message):
    from mlpnas.export import read_arch_file

    folder = _export(tmp_path)
    record = json.loads((folder / "arch.json").read_text())
    text = json.dumps(change(record)).replace('"DEEP"', "[" * 100_000 + "]" * 100_000)
    (folder / "arch.json").write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_arch_file(folder)


def test_an_export_is_written_readable_by_others(tmp_path):
    folder = _export(tmp_path)
    mode = os.stat(folder / WEIGHTS_FILE).st_mode & 0o777
    assert mode == os.stat(folder / "arch.json").st_mode & 0o777
