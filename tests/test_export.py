"""Export, loading back (one call and through timm), ONNX and retraining, from the shared
finished (tiny) search run of conftest.py."""

import json
import re

import pandas as pd
import pytest
import timm
import torch
from helpers import run_cli, run_task

import mlpnas
from mlpnas.errors import UserError
from mlpnas.export import ARCH_FILE, WEIGHTS_FILE, export_model, load_exported
from mlpnas.models import MlpBackbone, published_spec


def test_search_exports_pareto_archs_that_load_with_one_call(tiny_search_run):
    pareto = pd.read_csv(tiny_search_run / "pareto.csv")
    assert len(pareto) >= 1
    for key in pareto["arch"]:
        folder = tiny_search_run / "exported" / key
        assert (folder / ARCH_FILE).is_file() and (folder / WEIGHTS_FILE).is_file()
        card = (folder / "README.md").read_text()
        assert key in card and "score measured on" in card and "MFLOPs" in card
        assert "search score `supernet_acc`" in card and "inherited from the supernet" in card
        model = mlpnas.load_exported(folder)
        assert isinstance(model, MlpBackbone) and not model.training
        out = model(torch.randn(2, 3, 16, 16))
        assert out.shape == (2, 10)


def test_exported_weights_reproduce_the_search_accuracy(tiny_search_run):
    """The exported model scores on the holdout split exactly what the search recorded."""
    from mlpnas.data import build_data, data_config
    from mlpnas.train import evaluate

    pareto = pd.read_csv(tiny_search_run / "pareto.csv")
    key = pareto["arch"].iloc[0]
    data = build_data(data_config(train_size=512, val_size=64,
                                  holdout_size=128), (3, 16, 16))
    acc = evaluate(load_exported(tiny_search_run / "exported" / key), data.holdout, 500,
                   torch.device("cpu"))
    assert acc == pytest.approx(pareto["supernet_acc"].iloc[0])


def test_exported_model_loads_through_timm_also_with_another_head(tiny_search_run):
    key = pd.read_csv(tiny_search_run / "pareto.csv")["arch"].iloc[0]
    folder = tiny_search_run / "exported" / key
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


def test_export_of_chosen_trials_with_onnx_at_batch_1_and_3_and_of_an_arch_key(tiny_search_run,
                                                                               tmp_path):
    import onnx
    import onnxruntime as ort

    run_dir = tiny_search_run
    trials = pd.read_csv(run_dir / "trials.csv")
    n = int(trials[trials["sampler"] == "nsga2"]["number"].iloc[3])
    run_task("export", [run_dir, f"export.trials=[{n}]", f"export.out_dir={tmp_path / 'a'}",
                        "export.onnx=true"])  # no UserError: the command would exit 0
    (folder,) = list((tmp_path / "a").iterdir())
    info = json.loads((folder / ARCH_FILE).read_text())
    assert info["arch"] == trials[trials["number"] == n]["arch"].iloc[0]
    assert info["metrics"]["onnx_max_abs_error"] < 1e-4  # onnxruntime agrees with PyTorch
    assert (folder / "model.onnx").is_file()
    # any batch size: onnxruntime runs the file at batch 1 and 3, equal to PyTorch
    session = ort.InferenceSession(str(folder / "model.onnx"),
                                   providers=["CPUExecutionProvider"])
    model = load_exported(folder)
    for batch in (1, 3):
        x = torch.randn(batch, 3, 16, 16)
        (out,) = session.run(None, {"images": x.numpy()})
        assert out.shape == (batch, 10)
        torch.testing.assert_close(torch.from_numpy(out), model(x), atol=1e-4, rtol=1e-4)
    props = {p.key: p.value for p in onnx.load(str(folder / "model.onnx")).metadata_props}
    assert json.loads(props["input_size"]) == [3, 16, 16] and props["batch"] == "any"
    assert json.loads(props["mean"]) == [0.5] * 3 and json.loads(props["std"]) == [0.25] * 3
    assert props["arch"] == info["arch"]
    assert "any batch size N, this image size only" in (folder / "README.md").read_text()
    run_task("export", [run_dir, "export.arch=c3r1_s3r2", f"export.out_dir={tmp_path / 'b'}"])
    info = json.loads((tmp_path / "b" / "c3r1_s3r2" / ARCH_FILE).read_text())
    # an architecture the search never scored gets the run's score: here the holdout
    # accuracy of its exported (inherited, recalibrated) weights
    from mlpnas.data import build_data, data_config
    from mlpnas.train import evaluate

    data = build_data(data_config(train_size=512, val_size=64,
                                  holdout_size=128), (3, 16, 16))
    acc = evaluate(load_exported(tmp_path / "b" / "c3r1_s3r2"), data.holdout, 500,
                   torch.device("cpu"))
    assert info["metrics"]["score"] == "supernet_acc"
    assert info["metrics"]["score_value"] == pytest.approx(acc)
    assert info["metrics"]["mflops"] == pytest.approx(
        mlpnas.cost.CostModel(mlpnas.cost.flops_table(
            mlpnas.space.load_space("tiny"), 10, run_dir.parent / "cache")).cost(
            mlpnas.space.load_space("tiny").arch_from_key("c3r1_s3r2"), "mflops"))


def test_export_of_a_folder_that_is_no_run_exits_2_with_one_sentence():
    r = run_cli("export", "/no/such/run")
    assert r.returncode == 2 and "is not a search run folder" in r.stderr
    assert r.stderr.startswith("mlpnas export: error: ") and "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["RUN", "export.arch=c9r1_c3r1"], "block 0 of stage 0 ('c9r1') is not in space 'tiny'"),
    (["RUN", "export.trials=[9999]"], "trial 9999 is not a complete nsga2 trial"),
    (["RUN", "export.trials=abc"], "export.trials='abc' is neither 'pareto' nor a list of "
                                   "trial numbers"),
    (["RUN", "export.trials=[1,x]"], "is neither 'pareto' nor a list of trial numbers"),
])
def test_export_refuses_an_arch_or_trial_not_in_the_run(tiny_search_run, args, message):
    args = [str(tiny_search_run) if a == "RUN" else a for a in args]
    with pytest.raises(UserError, match=re.escape(message)):
        run_task("export", args)


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


@pytest.mark.slow
def test_retrain_from_scratch_and_inherited_resumes_and_refuses_other_data(tiny_search_run,
                                                                            tmp_path, capsys):
    key = pd.read_csv(tiny_search_run / "pareto.csv")["arch"].iloc[0]
    folder = tiny_search_run / "exported" / key
    args = ["data.train_size=512", "data.val_size=64", "data.holdout_size=128",
            "train.batch_size=64", "train.epochs=2", "progress=false"]
    for init in ("scratch", "inherited"):
        out = tmp_path / init
        run_task("retrain", [folder, f"init={init}", f"out_dir={out}", *args])  # exit 0
        metrics = pd.read_csv(out / "metrics.csv")
        assert list(metrics["epoch"]) == [1, 2]
        trained = load_exported(out / "model")
        assert trained.spec == load_exported(folder).spec
        info = json.loads((out / "model" / ARCH_FILE).read_text())
        assert info["metrics"]["accuracy"] == pytest.approx(metrics["val_acc"].iloc[-1])
        capsys.readouterr()
        run_task("retrain", [folder, f"init={init}", f"out_dir={out}", *args])  # exit 0
        assert "is complete" in capsys.readouterr().out
    # the verb's exit status and message as a process
    bad = run_cli("retrain", folder, "data=cifar10", f"out_dir={tmp_path / 'x'}")
    assert bad.returncode == 2 and "was found on data 'synthetic'" in bad.stderr


# -- exports as timm models ----------------------------------------------------------------
def _first_export(run_dir):
    return run_dir / "exported" / pd.read_csv(run_dir / "pareto.csv")["arch"].iloc[0]


def test_features_only_on_a_two_stage_export_gives_its_two_stages(tiny_search_run):
    folder = _first_export(tiny_search_run)
    assert len(json.loads((folder / ARCH_FILE).read_text())["netspec"]["stages"]) == 2
    features = timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder),
                                 features_only=True)
    maps = features(torch.randn(2, 3, 16, 16))
    assert [tuple(m.shape) for m in maps] == [(2, 8, 8, 8), (2, 16, 4, 4)]
    assert features.feature_info.channels() == [8, 16]


@pytest.mark.parametrize("pool", ["avg", "max", "avgmax", "catavgmax", "fast"])
def test_every_timm_global_pool_gives_one_row_per_image(tiny_search_run, pool):
    folder = _first_export(tiny_search_run)
    # catavgmax doubles the classifier's input, so the export's head weights do not fit it
    model = timm.create_model("mlpnas_exported", pretrained=pool != "catavgmax",
                              export_path=str(folder), global_pool=pool).eval()
    x = torch.randn(2, 3, 16, 16)
    assert model(x).shape == (2, 10)
    features = model.forward_features(x)
    pooled = model.forward_head(features, pre_logits=True)
    normed = model.norm(features)
    expected = {"avg": normed.mean((1, 2)), "fast": normed.mean((1, 2)),
                "max": normed.amax((1, 2)),
                "avgmax": 0.5 * (normed.mean((1, 2)) + normed.amax((1, 2))),
                "catavgmax": torch.cat([normed.mean((1, 2)), normed.amax((1, 2))], 1)}[pool]
    torch.testing.assert_close(pooled, expected)
    model.reset_classifier(4, "")  # no pooling: timm's "" keeps the map
    assert model(x).shape == (2, 4, 4, 4)
    with pytest.raises(ValueError, match="global_pool='median' is not a pooling type"):
        timm.create_model("mlpnas_exported", export_path=str(folder), global_pool="median")


def test_resolve_data_config_gives_the_training_datas_normalisation(tiny_search_run):
    """The synthetic data is normalised with mean 0.5 and std 0.25, not ImageNet's; arch.json,
    the card, timm's pretrained_cfg and timm's data pipeline all say so."""
    folder = _first_export(tiny_search_run)
    record = json.loads((folder / ARCH_FILE).read_text())
    assert record["preprocessing"] == {"input_size": [3, 16, 16], "mean": [0.5] * 3,
                                       "std": [0.25] * 3, "crop_pct": 1.0,
                                       "interpolation": "bicubic"}
    assert "mean (0.5, 0.5, 0.5), std (0.25, 0.25, 0.25)" in (folder / "README.md").read_text()
    expected = {"input_size": (3, 16, 16), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
                "crop_pct": 1.0, "interpolation": "bicubic"}
    for model in (load_exported(folder),
                  timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder))):
        config = timm.data.resolve_data_config(model=model)
        assert {k: config[k] for k in expected} == expected
    # what timm's standard evaluation transform makes of an image is what the model saw
    from PIL import Image

    from mlpnas.data import build_data, data_config

    data = build_data(data_config(train_size=8, val_size=8, holdout_size=8),
                      (3, 16, 16))
    x, _ = data.val.get_batch([0])
    image = Image.fromarray(data.val.images[0].permute(1, 2, 0).numpy())
    transform = timm.data.create_transform(**timm.data.resolve_data_config(
                                                                           model=load_exported(folder)))
    torch.testing.assert_close(transform(image), x[0], atol=1e-5, rtol=0)


def test_save_for_hf_and_local_dir_round_trips_give_identical_outputs(tiny_search_run, tmp_path):
    """A found architecture travels like a timm model: timm's save_for_hf (what push_to_hf_hub
    uploads) writes its NetSpec, not this machine's folder, so `local-dir:` (as `hf-hub:`)
    rebuilds it with its weights and preprocessing; the export folder itself is such a
    folder too."""
    folder = _first_export(tiny_search_run)
    ref = load_exported(folder)
    x = torch.randn(2, 3, 16, 16)
    from_timm = timm.create_model("mlpnas_exported", pretrained=True, export_path=str(folder))
    for i, model in enumerate((ref, from_timm)):
        timm.models.save_for_hf(model, str(tmp_path / f"hub{i}"), safe_serialization=True)
        config = json.loads((tmp_path / f"hub{i}" / "config.json").read_text())
        assert config["architecture"] == "mlpnas_exported"
        assert "export_path" not in config["model_args"]
        assert config["model_args"]["spec"] == json.loads((folder / ARCH_FILE).read_text())[
            "netspec"]
    for source in (tmp_path / "hub0", tmp_path / "hub1", folder):
        back = timm.create_model(f"local-dir:{source}", pretrained=True).eval()
        assert torch.equal(back(x), ref(x)), source
        assert tuple(timm.data.resolve_data_config(model=back)["mean"]) == (0.5, 0.5, 0.5)
    fine = timm.create_model(f"local-dir:{tmp_path / 'hub0'}", pretrained=True, num_classes=3)
    assert fine.eval()(x).shape == (2, 3)


def test_exported_files_are_readable_by_others(tiny_search_run):
    folder = _first_export(tiny_search_run)
    for name in (WEIGHTS_FILE, ARCH_FILE, "config.json", "README.md"):
        assert (folder / name).stat().st_mode & 0o044 == 0o044, name


def test_export_without_batchnorm_reestimation_keeps_the_supernets_statistics(
        tiny_search_run_copy, tmp_path):
    """search.recal_batches=0 means "use the supernet's BatchNorm statistics as they are":
    an architecture the search never scored is scored (and exported) so, not with statistics
    reset and never re-estimated."""
    import yaml

    from mlpnas.data import build_data, data_config
    from mlpnas.space import load_space
    from mlpnas.supernet import SupernetRecipe, load_trained_supernet, subnet_metrics
    from mlpnas.train import EvalSetting

    run = tiny_search_run_copy
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    cfg["search"]["recal_batches"] = 0
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    key = "c3r1_s3r2"
    run_task("export", [run, f"export.arch={key}", f"export.out_dir={tmp_path / 'x'}",
                        "export.measure_latency=false"])
    info = json.loads((tmp_path / "x" / key / ARCH_FILE).read_text())
    space = load_space("tiny")
    data = build_data(data_config(train_size=512, val_size=64,
                                  holdout_size=128), (3, 16, 16))
    net = load_trained_supernet(space, cfg["supernet_dir"], cfg["data"],
                                SupernetRecipe.of(cfg["train"]), 0, 10)
    kept = subnet_metrics(net, space.arch_from_key(key), data.holdout, data.train,
                          EvalSetting(500, 0, None, 0, None), torch.device("cpu"))["accuracy"]
    assert info["metrics"]["score_value"] == pytest.approx(kept)
    # and the exported weights carry those statistics: the same accuracy again
    acc = mlpnas.train.evaluate(load_exported(tmp_path / "x" / key), data.holdout, 500,
                                torch.device("cpu"))
    assert acc == pytest.approx(kept)
