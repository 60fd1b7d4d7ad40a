import subprocess
import sys

import pytest


def mlpnas(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "mlpnas.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_help_lists_verbs():
    r = mlpnas("--help")
    assert r.returncode == 0 and "info" in r.stdout


def test_info_summarises_a_model():
    r = mlpnas("info", "model=test_asmlp")
    assert r.returncode == 0, r.stderr
    assert "parameters:" in r.stdout and "GMACs" in r.stdout


@pytest.mark.parametrize("args,message", [
    (("info", "model=resnet"), "unknown model 'resnet'"),
    (("frobnicate",), "unknown verb 'frobnicate'"),
])
def test_user_errors_are_one_sentence_and_exit_2(args, message):
    r = mlpnas(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (("train",), "no search space given; add +space=NAME with NAME one of"),
    (("train", "+space=nope"), "unknown search space 'nope'; known spaces are"),
    (("train", "+space=/no/such.yaml"), "search space file '/no/such.yaml' does not exist"),
    (("train", "+space=tiny", "data=imagefolder"), "data=imagefolder needs a dataset folder"),
    (("train", "+space=tiny", "data=foo"),
     "unknown data option 'foo'; use data=NAME with NAME one of cifar10, cifar100, imagefolder, "
     "synthetic, synthetic_relational."),
])
def test_train_user_errors(tmp_path, args, message):
    r = mlpnas(*args, f"out_dir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # a refused run leaves no empty folder behind


def test_train_refuses_a_supernet_of_another_space_without_touching_it(tmp_path):
    out = tmp_path / "run"
    ok = mlpnas("train", "+space=tiny", f"out_dir={out}", "data.train_size=64",
                "data.val_size=16", "data.holdout_size=16", "train.batch_size=32",
                "train.epochs=1", "progress=false")
    assert ok.returncode == 0, ok.stderr
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    r = mlpnas("train", "+space=cycle_vs_shift", f"out_dir={out}", "progress=false")
    assert r.returncode == 2
    assert "already holds a supernet, but its space is 'tiny'" in r.stderr
    assert "use another out_dir" in r.stderr
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_verb_help_lists_groups_and_explained_options_without_torch():
    code = ("import sys; from mlpnas.cli import main; main(['search', '--help']); "
            "print('torch loaded' if 'torch' in sys.modules else 'no torch')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert out.startswith("mlpnas search +space=NAME: find the accuracy / cost Pareto front")
    assert "data: cifar10, cifar100, imagefolder, synthetic*, synthetic_relational" in out
    assert "+space: all_mixers, custom, cycle_vs_shift, tiny" in out
    assert "  sampling: sandwich    # sandwich (largest + smallest + random" in out
    assert "n_trials: 100             # complete trials in the study" in out
    assert "hydra:" not in out and "defaults:" not in out
    assert out.strip().endswith("no torch")
