"""Run folders: the recorded config describes the run that finished and its folders resolve
from anywhere; the supernet lock in a folder that takes no lock file; folders someone else
owns are reused where they can be read and named in one sentence where they must be
written."""

import os
import shutil
import stat
import subprocess

import pytest
from helpers import (
    QUICK_RECIPE,
    SCORE_SUFFIX,
    TINY_SEARCH,
    cli_command,
    recipe,
    run_task,
    tiny_search,
)

from mlpnas.errors import UserError
from mlpnas.space import load_space


def test_config_records_the_run_that_finished_and_folders_resolve_from_anywhere(tmp_path):
    run = tmp_path / f"runs/search/tiny-small-synthetic-seed0{SCORE_SUFFIX}"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\nsearch: {n_trials: 99}\n")  # a crashed run's
    tiny_search(tmp_path)  # no UserError: the command would exit 0
    text = (run / "config.yaml").read_text()
    assert "n_trials: 4" in text and "n_trials: 99" not in text
    assert f"supernet_dir: {tmp_path}/runs/supernets/" in text  # absolute
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    run_task("export", [run, "export.measure_latency=false"], cwd=elsewhere)  # exit 0
    # an older run recorded its folders relative to where it ran: still found
    text = (run / "config.yaml").read_text().replace(f"{tmp_path}/", "")
    (run / "config.yaml").write_text(text)
    run_task("export", [run, "export.measure_latency=false"], cwd=elsewhere)  # exit 0

def test_supernet_lock_in_a_folder_that_takes_no_lock_file(tmp_path):
    """Where the lock file cannot be written (here: a folder stands in its place), a finished
    supernet is reused without it and an unfinished one is refused in one sentence."""
    from mlpnas.data import build_data, data_config
    from mlpnas.supernet import train_supernet
    from mlpnas.tasks._common import supernet_lock

    space = load_space("tiny")
    data_cfg = data_config(train_size=64, holdout_size=16, val_size=16)
    quick = recipe(QUICK_RECIPE, checkpoint_every=1)
    done, half = tmp_path / "done", tmp_path / "half"
    data = build_data(data_cfg, space.input_size)
    train_supernet(space, data, quick, done, progress=False, log=lambda m: None)
    train_supernet(space, data, quick, half, progress=False, log=lambda m: None,
                   stop_after_steps=1)
    for d in (done, half):
        (d.parent / f".{d.name}.lock").mkdir()
    with supernet_lock(done):
        pass
    with pytest.raises(UserError, match=f"cannot write in '{tmp_path}' .* to train the "
                                        f"supernet there; give supernet_dir a folder"), \
            supernet_lock(half):
        pass

def _as_another_user() -> list[str]:
    return (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            if os.geteuid() == 0 else [])

@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None,
                    reason="as root, only another user sees a folder read-only (needs setpriv)")
def test_read_only_folders_reuse_what_can_be_read_and_name_the_folder(tmp_path):
    """A finished supernet and cost tables in folders this user cannot write to (someone
    else's, shared) are reused; an output folder there is one sentence naming it."""
    base = tmp_path / "shared"
    base.mkdir()
    tiny_search(base, "search.score=supernet_acc")  # no UserError: the command would exit 0
    if os.geteuid() != 0:  # as root the files are someone else's already; else drop write
        for p in [base / "runs", *(base / "runs").rglob("*")]:
            p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    mine = tmp_path / "mine"
    mine.mkdir()
    mine.chmod(0o777)
    for p in (tmp_path, *tmp_path.parents):  # let the other user reach the folders
        if p.stat().st_mode & 0o005 != 0o005 and str(p).startswith(tempfile_root()):
            p.chmod(p.stat().st_mode | 0o005)
    env = dict(os.environ, HOME=str(mine), MPLCONFIGDIR=str(mine / "mpl"))
    common = [*_as_another_user(), *cli_command("search", "+space=tiny", *TINY_SEARCH,
                                                "search.score=supernet_acc"),
              f"supernet_dir={base}/runs/supernets/tiny-small-synthetic-seed0",
              f"cache_dir={base}/runs/cache"]
    ok = subprocess.run([*common, f"out_dir={mine}/search"], capture_output=True, text=True,
                        cwd=mine, env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr
    assert "complete" in ok.stdout  # the supernet was reused, not retrained
    blocked = subprocess.run([*common, f"out_dir={base}/runs/search/other"],
                             capture_output=True, text=True, cwd=mine, env=env, timeout=600)
    assert blocked.returncode == 2, blocked.stderr
    assert f"cannot write '{base}/runs/search" in blocked.stderr
    assert "(permission denied)" in blocked.stderr and "Traceback" not in blocked.stderr
    # exporting into the read-only run folder (safetensors' own writer gave a traceback)
    export = subprocess.run([*_as_another_user(), *cli_command(
        "export", f"{base}/runs/search/tiny-small-synthetic-seed0-supernet_acc",
        "export.arch=c3r1_c3r1",
        "export.measure_latency=false")], capture_output=True, text=True, cwd=mine, env=env,
        timeout=600)
    assert export.returncode == 2, export.stderr
    assert f"mlpnas export: error: cannot write '{base}/runs/search/" in export.stderr
    assert "(permission denied)" in export.stderr and len(export.stderr.splitlines()) == 1

def tempfile_root() -> str:
    import tempfile

    return tempfile.gettempdir()
