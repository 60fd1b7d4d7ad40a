"""Bad settings are refused before anything is written: one sentence naming the option
and the fix, exit 2, whether the option is misspelt, out of range, of the wrong kind or
inconsistent with another; inputs that cannot be built (too small, one class, an arch file
out of range)."""

import json

import pytest

from mlpnas.cli import main
from mlpnas.errors import UserError
from mlpnas.export import read_arch_file
from mlpnas.space import load_space


def refused(capsys, *argv):
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    err = capsys.readouterr().err
    assert e.value.code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    return err

@pytest.mark.parametrize("args,message", [
    (["search", "+space=tiny", "+search.n_trial=5"],
     "unknown option 'search.n_trial' for mlpnas search; did you mean search.n_trials?"),
    (["search", "+space=tiny", "search.n_trial=5"], "did you mean search.n_trials?"),
    (["search", "+space=tiny", "+search.n_trials=5"],
     "adds an option that already exists; set it without '+': search.n_trials=5"),
    (["train", "+space=tiny", "data=imagefolder", "data.rot=x"], "did you mean data.root?"),
    (["search", "+space=tiny", "search.n_trials=0"],
     "search.n_trials=0 is out of range; give a whole number of at least 1"),
    (["search", "+space=tiny", "search.n_trials=abc"], "search.n_trials='abc' is not a whole"),
    (["search", "+space=tiny", "search.population_size=1"],
     "search.population_size=1 is out of range"),
    (["train", "+space=tiny", "train.batch_size=0"], "train.batch_size=0 is out of range"),
    (["train", "+space=tiny", "train.epochs=-1"], "train.epochs=-1 is out of range"),
    (["train", "+space=tiny", "train.lr=-0.1"], "train.lr=-0.1 is out of range; give a number "
                                                "above 0"),
    (["train", "+space=tiny", "hardware.threads=-2"], "hardware.threads=-2 is out of range"),
    (["train", "+space=tiny", "data.num_classes=1"], "data.num_classes=1 is out of range"),
    (["train", "+space=tiny", "seed=1.5"], "seed=1.5 is not a whole number"),
    (["info", "model=test_vip", "img_size=abc"], "img_size='abc' is not a whole number"),
    (["info", "model=test_vip", "img_size=8"], "stage 1 would have a 0x0 feature map"),
    (["train", "+space=tiny", "hardware.device=bogus"],
     "hardware.device='bogus' is not a device mlpnas runs on; use cpu, cuda or cuda:N"),
    (["train", "+space=tiny", "hardware.amp=bogus"],
     "hardware.amp='bogus' is not one of its values; use one of null, none, fp32, bf16"),
    (["train", "+space=tiny", "train.epochs=1", "train.warmup_epochs=2"],
     "train.warmup_epochs=2 is longer than the training (train.epochs=1)"),
    (["train", "+space=tiny", "train.lr=inf"], "train.lr=inf is not a finite number"),
    (["search", "+space=tiny", "train.sampling=sandwhich"],
     "unknown train.sampling 'sandwhich'; use one of sandwich, uniform, fair."),
    (["search", "+space=tiny", "train.distill=2"], "train.distill=2 is not a switch"),
    (["search", "+space=tiny", "train.kd_temperature=0"],
     "train.kd_temperature=0 is out of range; give a number above 0."),
    (["search", "+space=tiny", "train.eval_limit=0"], "train.eval_limit=0 is out of range"),
    (["train", "+space=tiny", "seed=-1"], "seed=-1 is out of range; give a whole number from "
                                          "0 to 2147483647"),
    (["train", "+space=tiny", f"seed={2**63}"], f"seed={2**63} is out of range"),
    (["search", "+space=tiny", "~search.n_trials"],
     "'~search.n_trials' would delete search.n_trials, and mlpnas needs every option"),
    (["train", "+space=tiny", "data=cifar10", "data.root=x", "data.scale=[2,1]"],
     "data.scale=[2, 1] is not an area range"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.tau_start=0.1", "search.metakernel.tau_end=50"],
     "search.metakernel.tau_start=0.1 is below tau_end=50"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.hard_kernels=abc"],
     "search.metakernel.hard_kernels='abc' is not one of its values; use one of true, false"),
    (["search", "+space=tiny", "search.strategy=metakernel", "train.epochs=1",
      "search.metakernel.warmup_epochs=5"],
     "search.metakernel.warmup_epochs=5 leaves no epoch of the training"),
    (["search", "+space=tiny", "search.strategy=metakernel",
      "search.metakernel.arch_lr=inf"], "search.metakernel.arch_lr=inf is not a finite"),
    (["export", "x", "+experiment=ranking_mnist"], "mlpnas export takes no +experiment="),
    (["train", "space=tiny.txt"], "search space file 'tiny.txt' must be a YAML file"),
])
def test_bad_settings_are_refused_before_anything_is_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    argv = args + ([f"out_dir={out}"] if args[0] in ("search", "train") else [])
    assert message in refused(capsys, *argv)
    assert not out.exists()

def test_an_input_too_small_for_the_synthetic_data(tmp_path, capsys):
    from pathlib import Path

    text = Path(load_space("tiny").path).read_text()
    small = tmp_path / "small.yaml"
    small.write_text(text.replace("input_size: [3, 16, 16]", "input_size: [3, 4, 4]"))
    err = refused(capsys, "train", f"+space={small}", f"out_dir={tmp_path / 'o'}")
    assert "draws its shapes on images of at least 8x8, but the space's input size is 4x4" in err

def test_a_dataset_folder_with_one_class_is_refused(tmp_path):
    from PIL import Image

    from mlpnas.data import build_data, data_config

    for split in ("train", "val"):
        (tmp_path / split / "only").mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / split / "only" / "a.png")
    with pytest.raises(UserError, match="holds one class .*needs at least two class folders"):
        build_data(data_config("imagefolder", root=str(tmp_path)), (3, 8, 8))

@pytest.mark.parametrize("change,message", [
    (lambda d: d["stages"][0].update(dim=10**9), "stage 0 dim=1000000000 is out of range"),
    (lambda d: d["stages"][0].update(dim=-8), "stage 0 dim=-8 is out of range"),
    (lambda d: d["stages"][0].update(dim="64"), "stage 0 dim must be a whole number, got '64'"),
    (lambda d: d.update(img_size=[10**6, 16]), "img_size=1000000 is out of range"),
    (lambda d: d["stages"][0].update(blocks=d["stages"][0]["blocks"] * 300),
     "stage 0 blocks: 600 entries are more than the 256 allowed"),
    (lambda d: d["stages"][0]["blocks"][0].update(mlp_hidden=100000) or
     d["stages"][0].update(dim=16000, blocks=d["stages"][0]["blocks"] * 100),
     "would hold about"),
])
def test_an_arch_file_out_of_range_is_refused_before_any_tensor(tmp_path, change, message):
    from mlpnas.export import export_model
    from mlpnas.models import MlpBackbone

    space = load_space("tiny")
    export_model(MlpBackbone(space.to_netspec(space.largest(), 10)), tmp_path, "k")
    record = json.loads((tmp_path / "arch.json").read_text())
    change(record["netspec"])
    (tmp_path / "arch.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match=message):
        read_arch_file(tmp_path)

def test_a_space_file_runs_at_its_scale_not_none():
    from mlpnas.cli import _space_override

    out = _space_override("train", ["+space=tests/data/spaces/learn.yaml"])
    assert "space.scale=small" in out and "+space=custom" in out
    assert _space_override("train", ["+space=tests/data/spaces/learn.yaml",
                                      "space.scale=small"]).count("space.scale=small") == 1
