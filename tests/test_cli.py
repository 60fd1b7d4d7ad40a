"""The command line as a process: usage, exit status 2 with one sentence for the errors a user
can cause, the light `--help`; and what `info` and `train` write and refuse."""

import json
import re
import resource
import signal
import subprocess
import sys

import pandas as pd
import pytest
from helpers import SMALL_SEARCH, cli_command, run_cli, run_task

import mlpnas
from mlpnas.errors import UserError


def test_help_lists_verbs():
    r = run_cli("--help")
    assert r.returncode == 0 and "info" in r.stdout


def test_info_prints_parameters_and_gmacs_of_a_model(capsys):
    run_task("info", ["model=test_asmlp"])  # no UserError: the command would exit 0
    out = capsys.readouterr().out
    assert "parameters:" in out and "GMACs" in out


@pytest.mark.parametrize("args,message", [
    (("info", "model=resnet"), "unknown model 'resnet'"),
    (("frobnicate",), "unknown verb 'frobnicate'"),
])
def test_user_errors_are_one_sentence_and_exit_2(args, message):
    r = run_cli(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.startswith(("mlpnas ", "mlpnas:")) and "mlpnas :" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (("train",), "no search space given; add +space=NAME with NAME one of"),
    (("train", "+space=nope"), "unknown search space 'nope'; known spaces are"),
    (("train", "+space=/no/such.yaml"), "search space file '/no/such.yaml' does not exist"),
    (("train", "+space=tiny", "data=imagefolder"), "data=imagefolder needs a dataset folder"),
    (("train", "+space=tiny", "data=foo"),
     "unknown data option 'foo'; use data=NAME with NAME one of cifar10, cifar100, imagefolder, "
     "synthetic, synthetic_relational."),
])
def test_train_user_errors_exit_2_with_one_sentence_and_leave_no_folder(tmp_path, args, message):
    r = run_cli(*args, f"out_dir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()  # a refused run leaves no empty folder behind


@pytest.mark.parametrize("args,message", [
    ((), "no search space given; add +space=NAME with NAME one of"),
    (("+space=nope",), "unknown search space 'nope'; known spaces are"),
    (("+space=tiny", "search.score=naswt"),
     "unknown score 'naswt' in search.score; did you mean naswot?"),
])
def test_search_without_a_known_space_or_score_exits_2_with_one_sentence(tmp_path, args,
                                                                        message):
    r = run_cli("search", *args, f"out_dir={tmp_path / 'run'}")
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("mlpnas search: error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def test_train_refuses_a_supernet_of_another_space_without_touching_it(tmp_path):
    out = tmp_path / "run"
    run_task("train", ["+space=tiny", f"out_dir={out}", "data.train_size=64",
                       "data.val_size=16", "data.holdout_size=16", "train.batch_size=32",
                       "train.epochs=1", "progress=false"])
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(UserError, match="already holds a supernet, but its space is 'tiny'") as e:
        run_task("train", ["+space=cycle_vs_shift", f"out_dir={out}", "progress=false"])
    assert "use another out_dir" in str(e.value)
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


def test_version_and_python_dash_m():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"mlpnas {mlpnas.__version__}"
    r = subprocess.run([sys.executable, "-m", "mlpnas", "--help"], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: mlpnas <verb>")


def test_a_two_job_sweep_leaves_two_intact_run_folders(tiny_search_run, tmp_path):
    """`-m search.sampler=tpe,random`: each job its own run folder (the swept setting ends its
    name) and study; both reuse the shared supernet, and each records its command line."""
    base = tiny_search_run.parent
    r = run_cli("search", "-m", "+space=tiny", *SMALL_SEARCH, "search.max_mflops=0.15",
                "search.score=supernet_acc",
                "search.n_trials=4", "search.compare_random=false", "search.export_pareto=false",
                "search.measure_pareto_latency=false", "search.sampler=tpe,random",
                f"supernet_dir={base / 'supernet'}", f"cache_dir={base / 'cache'}",
                f"out_dir={tmp_path / 'run'}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for sampler in ("tpe", "random"):
        run = tmp_path / f"run-search.sampler={sampler}"
        trials = pd.read_csv(run / "trials.csv")
        assert set(trials["sampler"]) == {sampler} and len(trials) == 4
        assert f"4 {sampler} trials" in (run / "summary.txt").read_text()
        assert json.loads((run / "run.json").read_text())["studies"] == {
            sampler: f"tiny-small-synthetic-seed0-max_mflops0.15-supernet_acc-{sampler}"}
        commands = (run / "commands.txt").read_text()
        assert "mlpnas search -m +space=tiny" in commands
        (job,) = [line for line in commands.splitlines() if line.startswith("# overrides:")]
        assert f" search.sampler={sampler} " in job  # this job's overrides
    assert not (tmp_path / "run").exists()


def test_a_sweep_with_a_shared_storage_names_each_jobs_studies(tmp_path):
    from omegaconf import OmegaConf

    from mlpnas._sweep import separate_jobs, swept_keys

    overrides = ["+space=tiny", "search.sampler=tpe,random", "train.epochs=1,2",
                 "search.worker=0,1", "search.storage=sqlite:///x.db"]
    swept = swept_keys(overrides)
    assert swept == ["search.sampler", "train.epochs", "search.worker"]
    cfg = OmegaConf.create({"out_dir": "runs/a", "supernet_dir": "runs/s",
                            "search": {"storage": "sqlite:///x.db", "study_name": None}})
    separate_jobs("search", cfg, ["+space=tiny", "search.sampler=tpe", "train.epochs=2",
                                  "search.worker=1"], swept)
    assert cfg.out_dir == "runs/a-search.sampler=tpe,train.epochs=2"
    assert cfg.supernet_dir == "runs/s-train.epochs=2"  # the search alone shares a supernet
    assert cfg.search.study_name == "a-search.sampler=tpe,train.epochs=2"


def test_space_without_plus_and_a_run_folder_with_a_quote(tmp_path):
    """`space=tiny` means `+space=tiny`; a folder whose name holds a quote is one value."""
    from mlpnas.cli import _space_override

    assert _space_override("train", ["space=tiny"]) == ["+space=tiny"]
    run = tmp_path / "it's here"
    run.mkdir()
    with pytest.raises(UserError, match=re.escape(f"'{run}' is not a search run folder")):
        run_task("plot", [run])


def _limited(limit: int):
    """For Popen: the child's files may grow to `limit` bytes (what a full disk does to a
    write, as EFBIG), and SIGXFSZ does not kill it."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_a_full_disk_is_one_sentence_and_a_rerun_resumes(tmp_path):
    """A write that finds the disk full (here: a file-size limit) ends train, search and
    export with one sentence (search used to print 155 lines with six tracebacks); nothing
    written is damaged, and the same command without the limit finishes the work."""
    base = ["+space=tiny", "data.train_size=512", "data.val_size=64", "data.holdout_size=128",
            "train.batch_size=64", "train.epochs=1", "progress=false", "hardware.threads=1"]
    sn = tmp_path / "sn"
    run_task("train", [*base, f"out_dir={sn}"])
    search = ["search", *base, "search.population_size=4", "search.n_trials=40",
              f"supernet_dir={sn}", f"out_dir={tmp_path / 'run'}", f"cache_dir={tmp_path}",
              "search.measure_pareto_latency=false"]
    cases = [(["train", *base, f"out_dir={tmp_path / 'other'}"], 20_000, "the disk is full"),
             (search, 120_000, "the disk"),  # the study database or another file
             (["export", tmp_path / "run", "export.measure_latency=false"], 3_000,
              "the disk is full")]
    for args, limit, message in cases:
        if args[0] == "export":  # the finished run to export from
            assert run_cli(*search).returncode == 0
        r = subprocess.run(cli_command(*args), capture_output=True, text=True, timeout=600,
                           preexec_fn=_limited(limit))
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and "free some space and run the same command" \
            in r.stderr
        if args[0] == "search":
            again = run_cli(*args)
            assert again.returncode == 0, again.stderr


def test_memory_that_runs_out_is_one_sentence():
    from mlpnas.cli import out_of_memory

    said = out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. "
                                      "DefaultCPUAllocator: can't allocate memory: you tried "
                                      "to allocate 10737418240 bytes."))
    assert said.startswith("the memory ran out ([enforce fail") and "smaller batch" in said
    assert out_of_memory(MemoryError()).startswith("the memory ran out (MemoryError)")
    assert out_of_memory(RuntimeError("shapes cannot be multiplied")) is None
