"""Once-for-all training: learning, checkpoint/resume (also after SIGKILL), refusing a
checkpoint of another space, and DistributedDataParallel equivalence."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import QUICK_RECIPE, cli_command, recipe, run_cli, run_task

from mlpnas.data import build_data, data_config
from mlpnas.errors import UserError
from mlpnas.space import load_space
from mlpnas.supernet import train_supernet
from mlpnas.train import load_checkpoint

SPACES = Path(__file__).parent / "data" / "spaces"
RECIPE = dict(epochs=2, batch_size=32, lr=3e-3, min_lr=1e-5, weight_decay=0.05,
              warmup_epochs=0.2, label_smoothing=0.1, mixup=0.0, cutmix=0.0,
              sandwich_random=1, distill=True, kd_temperature=1.0, grad_clip=5.0,
              drop_path=0.0, sort_channels=True, checkpoint_every=3, recal_batches=2,
              eval_batch_size=64, eval_limit=None, num_workers=0)
DATA = data_config(train_size=256, holdout_size=32, val_size=64)


def _data(space):
    return build_data(DATA, space.input_size)


def test_resume_mid_epoch_gives_the_same_run(tmp_path):
    space = load_space("tiny")
    data = _data(space)
    a = train_supernet(space, data, recipe(RECIPE), tmp_path / "a", progress=False,
                       log=lambda m: None, data_cfg=DATA)
    part = train_supernet(space, data, recipe(RECIPE), tmp_path / "b", progress=False,
                          log=lambda m: None, data_cfg=DATA, stop_after_steps=11)
    assert part.steps == 11 and len(part.metrics) == 1
    b = train_supernet(space, data, recipe(RECIPE), tmp_path / "b", progress=False,
                       log=lambda m: None, data_cfg=DATA)
    assert a.steps == b.steps == 16
    assert a.metrics == b.metrics
    metrics_a, metrics_b = (tmp_path / d / "metrics.csv" for d in "ab")
    assert metrics_a.read_text() == metrics_b.read_text()
    sa, sb = a.supernet.state_dict(), b.supernet.state_dict()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_training_learns_and_writes_its_files(tmp_path):
    """The four bar orientations of the synthetic data (chance 0.25), 96 steps."""
    space = load_space(SPACES / "learn.yaml")
    data_cfg = dict(DATA, train_size=3072, val_size=256, num_classes=4)
    data = build_data(data_cfg, space.input_size)
    r = train_supernet(space, data, recipe(RECIPE, batch_size=64), tmp_path, progress=False,
                       log=lambda m: None, data_cfg=data_cfg)
    assert r.steps == 96 and len(r.metrics) == 2
    assert r.metrics[-1]["loss_largest"] < r.metrics[0]["loss_largest"]
    assert r.metrics[-1]["val_acc_largest"] > 0.35 and r.metrics[-1]["val_acc_smallest"] > 0.35
    for f in ("checkpoint.pt", "metrics.csv", "timing.csv", "supernet.json"):
        assert (tmp_path / f).is_file()
    ck = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ck["finished"] and ck["step"] == 96 and ck["fingerprint"]["space"] == "learn"


def test_checkpoint_of_another_space_is_refused(tmp_path):
    tiny = load_space("tiny")
    train_supernet(tiny, _data(tiny), recipe(RECIPE), tmp_path, progress=False, log=lambda m: None,
                   stop_after_steps=3, data_cfg=DATA)
    other = load_space("cycle_vs_shift")
    with pytest.raises(UserError, match="already holds a supernet, but its space is 'tiny' .* "
                                        "not 'cycle_vs_shift'.*use another out_dir"):
        train_supernet(other, _data(other), recipe(RECIPE), tmp_path, progress=False,
                       log=lambda m: None, data_cfg=DATA)
    with pytest.raises(UserError, match=r"trained with recipe.lr=0.003, this run asks for 0.01"):
        train_supernet(tiny, _data(tiny), recipe(RECIPE, lr=0.01), tmp_path, progress=False,
                       log=lambda m: None, data_cfg=DATA)


CLI_ARGS = ["+space=tiny", "data.train_size=2048", "data.val_size=64", "data.holdout_size=32",
            "train.batch_size=32", "train.epochs=2", "train.checkpoint_every=3",
            "train.warmup_epochs=0.1", "progress=false"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_same_metrics(tmp_path):
    ref = run_cli("train", *CLI_ARGS, f"out_dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr
    run_dir = tmp_path / "killed"
    proc = subprocess.Popen(cli_command("train", *CLI_ARGS, f"out_dir={run_dir}"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck, killed_at = run_dir / "checkpoint.pt", None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if ck.is_file():
            step = load_checkpoint(ck)["step"]
            if step >= 6 and step % 64 not in (0, 63):  # inside an epoch
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.02)
    proc.wait()
    assert killed_at is not None, "the run ended before it could be killed mid-epoch"
    assert proc.returncode == -signal.SIGKILL
    resumed = run_cli("train", *CLI_ARGS, f"out_dir={run_dir}")
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from step" in resumed.stdout
    assert (run_dir / "metrics.csv").read_text() == (tmp_path / "ref" / "metrics.csv").read_text()
    assert load_checkpoint(run_dir / "checkpoint.pt")["step"] == 128


def test_mixup_with_an_odd_batch_is_one_sentence(tmp_path):
    out = tmp_path / "odd"
    with pytest.raises(UserError) as e:
        run_task("train", ["+space=tiny", "train.batch_size=33", "train.mixup=0.2",
                           "progress=false", f"out_dir={out}"])
    assert ("mixup and cutmix pair the images of a batch, but train.batch_size=33 is odd; "
            "use an even number of images per process, or train.mixup=0 train.cutmix=0."
            ) in str(e.value)
    assert not out.exists()  # config.yaml taken back too
    run_task("train", ["+space=tiny", "train.batch_size=32", "train.mixup=0.2",
                       "train.epochs=1", "data.train_size=64", "data.val_size=32",
                       "data.holdout_size=32", "progress=false", f"out_dir={out}"])  # exit 0
    text = (out / "config.yaml").read_text()
    assert "batch_size: 32" in text and "batch_size: 33" not in text  # its own settings


@pytest.mark.slow
def test_two_process_ddp_equals_one_process_of_the_same_global_batch(tmp_path):
    space_file = SPACES / "nobn.yaml"
    assert load_space(space_file).norm == "layer"
    args = [f"+space={space_file}", "data.train_size=256", "data.val_size=32",
            "data.holdout_size=32", "train.batch_size=32", "train.epochs=1",
            "train.checkpoint_every=100", "progress=false", "hardware.threads=1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    single = run_cli("train", *args, f"out_dir={tmp_path / 'one'}", env=env)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "mlpnas.cli", "train", *args, f"out_dir={tmp_path / 'two'}"],
        capture_output=True, text=True, timeout=600, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert a["step"] == b["step"] == 8
    for k, v in a["model"].items():
        torch.testing.assert_close(b["model"][k], v, atol=2e-5, rtol=1e-4, msg=k)
    assert Path(tmp_path / "two" / "metrics.csv").is_file()


class _Payload:
    """Unpickling this creates a file: what a crafted checkpoint could do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    space = load_space("tiny")
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"model": {}, "step": 1, "fingerprint": _Payload(marker)}, out / "checkpoint.pt")
    with pytest.raises(UserError, match="holds objects other than tensors and plain data, "
                                        "which mlpnas never loads"):
        train_supernet(space, _data(space), recipe(RECIPE), out, progress=False, log=lambda m: None,
                       data_cfg=DATA)
    assert not marker.exists()
    with pytest.raises(UserError, match="never loads"):
        load_checkpoint(out / "checkpoint.pt")
    assert not marker.exists()


@pytest.mark.parametrize("change,message", [
    (lambda s: [1, 2, 3], "is not a checkpoint of mlpnas (it holds no model state)"),
    (lambda s: {**s, "model": "hello"}, "is not a checkpoint of mlpnas"),
    (lambda s: {**s, "model": {**s["model"], "stem.conv.weight": torch.zeros(7, 7)}},
     "does not fit this network (size mismatch for stem.conv.weight"),
    (lambda s: {**s, "optimizer": {"state": 5}}, "does not fit this network ("),
    (lambda s: {**s, "fingerprint": [1]}, "does not fit this network ("),
])
def test_a_foreign_but_loadable_checkpoint_is_one_sentence(tmp_path, change, message):
    """Files that hold only tensors and plain data, but not what mlpnas wrote for this
    network, are refused in one sentence when a run resumes, not in a traceback."""
    space = load_space("tiny")
    out = tmp_path / "run"
    train_supernet(space, _data(space), recipe(RECIPE), out, progress=False, log=lambda m: None,
                   data_cfg=DATA, stop_after_steps=3)  # the first checkpoint
    state = load_checkpoint(out / "checkpoint.pt")
    torch.save(change(state), out / "checkpoint.pt")
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        train_supernet(space, _data(space), recipe(RECIPE), out, progress=False, log=lambda m: None,
                       data_cfg=DATA)


@pytest.mark.parametrize("args,message", [
    ((0, 2, None, 0, None), "the evaluation's batch_size=0 is not allowed"),
    ((8, -1, None, 0, None), "the evaluation's recal_batches=-1 is not allowed"),
    ((8, 2, 0, 0, None), "eval_limit=0 is not allowed"),
])
def test_evaluation_settings_check_themselves(args, message):
    from mlpnas.errors import UserError
    from mlpnas.train import EvalSetting

    with pytest.raises(UserError, match=message):
        EvalSetting(*args)
    # built from a configuration node: the node's keys, nothing defaulted in code
    e = EvalSetting.of({"eval_batch_size": 500, "recal_batches": 2, "eval_limit": None}, 1)
    assert (e.batch_size, e.recal_batches, e.limit, e.num_workers) == (500, 2, None, 1)
    with pytest.raises(KeyError):
        EvalSetting.of({"recal_batches": 2})


def test_the_training_bar_redraws_once_per_step_at_most(tmp_path, monkeypatch):
    """The postfix rides on the step's update: no forced redraw besides tqdm's own."""
    import tqdm.auto

    from mlpnas.data import build_data, data_config
    from mlpnas.supernet import train_supernet

    forced = []

    class Counting(tqdm.auto.tqdm):
        def __init__(self, *a, **k):
            super().__init__(*a, **{**k, "mininterval": 1e9, "disable": False})

        def refresh(self, *a, **k):
            forced.append(1)
            return super().refresh(*a, **k)

    monkeypatch.setattr(tqdm.auto, "tqdm", Counting)
    space = load_space("tiny")
    data_cfg = data_config(train_size=256, holdout_size=16, val_size=16)
    train_supernet(space, build_data(data_cfg, space.input_size),
                   recipe(QUICK_RECIPE, checkpoint_every=100), tmp_path,
                   progress=True, log=lambda m: None)
    assert len(forced) <= 2  # 8 steps: the old postfix call forced 8 redraws
