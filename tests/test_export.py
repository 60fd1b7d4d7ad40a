"""Export, loading back (one call and through timm), ONNX, retraining and plots, from a real
(tiny) search run folder."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import timm
import torch

import mlpnas
from mlpnas.errors import UserError
from mlpnas.export import ARCH_FILE, WEIGHTS_FILE, export_model, load_exported
from mlpnas.models import MlpBackbone, published_spec
from mlpnas.plots import choice_info, hypervolume_info, load_results, pareto_info, plot_run

SMALL = ["data.train_size=512", "data.val_size=64", "data.holdout_size=128",
         "train.batch_size=64", "train.epochs=1", "search.population_size=4",
         "progress=false", "hardware.threads=1"]


def cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    r = cli("search", "+space=tiny", *SMALL, "search.n_trials=12", "search.max_mflops=0.15",
            f"out_dir={base / 'search'}", f"supernet_dir={base / 'supernet'}",
            f"cache_dir={base / 'cache'}")
    assert r.returncode == 0, r.stderr
    return base / "search"


def test_search_exports_pareto_archs_that_load_with_one_call(run_dir):
    pareto = pd.read_csv(run_dir / "pareto.csv")
    assert len(pareto) >= 1
    for key in pareto["arch"]:
        folder = run_dir / "exported" / key
        assert (folder / ARCH_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()
        card = (folder / "README.md").read_text()
        assert key in card and "accuracy measured on" in card and "MFLOPs" in card
        model = mlpnas.load_exported(folder)
        assert isinstance(model, MlpBackbone) and not model.training
        out = model(torch.randn(2, 3, 16, 16))
        assert out.shape == (2, 10)


def test_exported_weights_reproduce_the_search_accuracy(run_dir):
    """The exported model scores on the holdout split exactly what the search recorded."""
    from mlpnas.data import build_data
    from mlpnas.train import evaluate

    pareto = pd.read_csv(run_dir / "pareto.csv")
    key = pareto["arch"].iloc[0]
    data = build_data({"name": "synthetic", "train_size": 512, "val_size": 64,
                       "holdout_size": 128}, (3, 16, 16))
    acc = evaluate(load_exported(run_dir / "exported" / key), data.holdout, 500,
                   torch.device("cpu"))
    assert acc == pytest.approx(pareto["accuracy"].iloc[0])


def test_load_through_timm(run_dir):
    key = pd.read_csv(run_dir / "pareto.csv")["arch"].iloc[0]
    folder = run_dir / "exported" / key
    ref = load_exported(folder)
    model = timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder)).eval()
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(model(x), ref(x))
    other = timm.create_model("mlpnas_exported", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(folder / WEIGHTS_FILE)))
    torch.testing.assert_close(other.eval()(x), ref(x))
    fine = timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder),
                             num_classes=3).eval()
    assert fine(x).shape == (2, 3)
    torch.testing.assert_close(fine.forward_features(x), ref.forward_features(x))


def test_export_cli_trials_arch_and_onnx(run_dir, tmp_path):
    trials = pd.read_csv(run_dir / "trials.csv")
    n = int(trials[trials["sampler"] == "nsga2"]["number"].iloc[3])
    r = cli("export", str(run_dir), f"export.trials=[{n}]", f"export.out_dir={tmp_path / 'a'}",
            "export.onnx=true")
    assert r.returncode == 0, r.stderr
    (folder,) = list((tmp_path / "a").iterdir())
    info = json.loads((folder / ARCH_FILE).read_text())
    assert info["arch"] == trials[trials["number"] == n]["arch"].iloc[0]
    assert info["metrics"]["onnx_max_abs_error"] < 1e-4  # onnxruntime agrees with PyTorch
    assert (folder / "model.onnx").is_file()
    r = cli("export", str(run_dir), "export.arch=c3r1_s3r2", f"export.out_dir={tmp_path / 'b'}")
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp_path / "b" / "c3r1_s3r2" / ARCH_FILE).read_text())
    assert 0.0 <= info["metrics"]["accuracy"] <= 1.0 and info["metrics"]["mflops"] > 0


@pytest.mark.parametrize("args,message", [
    (["/no/such/run"], "is not a search run folder"),
    (["RUN", "export.arch=c9r1_c3r1"], "block 0 of stage 0 ('c9r1') is not in space 'tiny'"),
    (["RUN", "export.trials=[9999]"], "trial 9999 is not a complete nsga2 trial"),
])
def test_export_user_errors(run_dir, args, message):
    args = [str(run_dir) if a == "RUN" else a for a in args]
    r = cli("export", *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_loading_a_broken_export_is_one_sentence(tmp_path):
    model = MlpBackbone(published_spec("test_cyclemlp"))
    export_model(model, tmp_path / "ok", "x")
    (tmp_path / "ok" / WEIGHTS_FILE).unlink()
    with pytest.raises(UserError, match="has no model.safetensors"):
        load_exported(tmp_path / "ok")
    export_model(model, tmp_path / "a", "a")
    export_model(MlpBackbone(published_spec("test_asmlp")), tmp_path / "b", "b")
    (tmp_path / "a" / WEIGHTS_FILE).write_bytes((tmp_path / "b" / WEIGHTS_FILE).read_bytes())
    with pytest.raises(UserError, match="do not match arch.json"):
        load_exported(tmp_path / "a")
    with pytest.raises(UserError, match="is not an exported architecture"):
        load_exported(tmp_path)


def test_plots_from_stored_results_only(run_dir, tmp_path):
    results = load_results(run_dir)
    info = pareto_info(results, "mflops")
    assert info.budget == 0.15
    assert all(p.x <= 0.15 for p in info.front)
    assert all(p.x > 0.15 for p in info.infeasible)
    xs = [p.x for p in info.front]
    assert xs == sorted(xs)
    assert {p.label for p in info.seeds} == {"all-cycle", "all-shift", "all-hire", "all-permute"}
    assert info.random_front
    hv = hypervolume_info(results)
    assert len(hv.sampler_hv) == 12 and hv.sampler_hv == sorted(hv.sampler_hv)
    ch = choice_info(results)
    assert ch.n_archs == len(info.front) and len(ch.stages) == 2
    r = cli("plot", str(run_dir), f"out_dir={tmp_path}")
    assert r.returncode == 0, r.stderr
    first = (tmp_path / "plot_numbers.json").read_text()
    assert cli("plot", str(run_dir), f"out_dir={tmp_path}").returncode == 0
    assert (tmp_path / "plot_numbers.json").read_text() == first  # same numbers twice
    for f in ("pareto_mflops.png", "hypervolume.png", "pareto_choices.png"):
        assert (tmp_path / f).stat().st_size > 10_000
    assert plot_run(run_dir, tmp_path / "again")


@pytest.mark.slow
def test_retrain_from_scratch_and_inherited(run_dir, tmp_path):
    key = pd.read_csv(run_dir / "pareto.csv")["arch"].iloc[0]
    folder = run_dir / "exported" / key
    args = ["data.train_size=512", "data.val_size=64", "data.holdout_size=128",
            "train.batch_size=64", "train.epochs=2", "progress=false"]
    for init in ("scratch", "inherited"):
        out = tmp_path / init
        r = cli("retrain", str(folder), f"init={init}", f"out_dir={out}", *args)
        assert r.returncode == 0, r.stderr
        metrics = pd.read_csv(out / "metrics.csv")
        assert list(metrics["epoch"]) == [1, 2]
        trained = load_exported(out / "model")
        assert trained.spec == load_exported(folder).spec
        info = json.loads((out / "model" / ARCH_FILE).read_text())
        assert info["metrics"]["accuracy"] == pytest.approx(metrics["val_acc"].iloc[-1])
        again = cli("retrain", str(folder), f"init={init}", f"out_dir={out}", *args)
        assert again.returncode == 0 and "is complete" in again.stdout
    bad = cli("retrain", str(folder), "data=cifar10", f"out_dir={tmp_path / 'x'}")
    assert bad.returncode == 2 and "was found on data 'synthetic'" in bad.stderr
