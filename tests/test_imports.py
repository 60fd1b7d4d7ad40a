"""What importing mlpnas costs: the subpackage list of `mlpnas/__init__.py` is complete (each
one reachable as `mlpnas.<name>` from a fresh `import mlpnas`), and the parts that only read
tables and registries (the search package, the score and cost registries) load no torch."""

import subprocess
import sys
from pathlib import Path

import mlpnas


def _fresh_python(code: str) -> str:
    """What `code` prints in a new Python process."""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_every_subpackage_is_reachable_from_a_fresh_import_mlpnas():
    found = sorted(p.parent.name for p in Path(mlpnas.__file__).parent.glob("*/__init__.py"))
    assert sorted(mlpnas._SUBPACKAGES) == found
    assert _fresh_python("import mlpnas; "
                         "print([n for n in mlpnas._SUBPACKAGES if getattr(mlpnas, n).__name__ "
                         "!= f'mlpnas.{n}'])") == "[]"


def test_search_score_and_cost_registries_load_no_torch():
    assert _fresh_python(
        "import sys, mlpnas.search, mlpnas.score, mlpnas.cost; "
        "mlpnas.score.parse_score(['naswot', 'mflops']); mlpnas.cost.COST_TABLE['mflops']; "
        "mlpnas.search.check_objectives(['accuracy', 'mflops']); "
        "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))") == "[]"


def test_the_verbs_of_the_python_api_are_also_their_subpackages_and_load_no_torch():
    """`mlpnas.search(...)` runs a search; `mlpnas.search.trials_frame` is the subpackage's,
    also after `import mlpnas.search` (which would otherwise put the plain module there)."""
    out = _fresh_python(
        "import sys, mlpnas; print('torch' in sys.modules, callable(mlpnas.search)); "
        "import mlpnas.search, mlpnas.export; from mlpnas import rank; "
        "print(callable(mlpnas.search), mlpnas.search.trials_frame.__name__, "
        "mlpnas.export.load_exported.__name__, rank.ranking_stats.__name__)")
    assert out.split() == ["False", "True", "True", "trials_frame", "load_exported",
                           "ranking_stats"]


def test_a_recipe_is_built_and_a_bad_setting_refused_without_torch(tmp_path):
    """The recipes load without the training loop (`mlpnas.train` and `mlpnas.supernet`
    import their torch parts when first used), so `mlpnas train|search|retrain` refuse a bad
    train.* value, and `mlpnas export` a folder that is no run, before torch loads: under a
    second instead of the five of loading torch and timm first."""
    out = _fresh_python(
        "import sys; from mlpnas.supernet import SupernetRecipe; from mlpnas.train import Recipe; "
        "from mlpnas._io import packaged_conf; "
        "SupernetRecipe.of(packaged_conf('train', 'default')); "
        "from mlpnas.cli import run; from mlpnas.errors import UserError\n"
        f"for verb, over in (('train', ['+space=tiny']), ('search', ['+space=tiny']), "
        f"('retrain', ['path={tmp_path}']), ('export', ['run_dir={tmp_path}'])):\n"
        "    try:\n"
        "        run(verb, [*over, 'train.lr=0'] if verb != 'export' else over)\n"
        "    except UserError as e:\n"
        "        print(verb, '|', e)\n"
        "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    *refusals, loaded = out.splitlines()
    bad_lr = "train.lr=0 is out of range; give a number above 0."
    assert refusals == [f"train | {bad_lr}", f"search | {bad_lr}", f"retrain | {bad_lr}",
                        f"export | '{tmp_path}' is not a search run folder (it has no "
                        f"trials.csv and run.json); give the folder `mlpnas search` printed at its "
                        f"start."]
    assert loaded == "[]"
    import mlpnas.supernet
    import mlpnas.train

    assert mlpnas.train.run_training.__module__ == "mlpnas.train._loop"  # the lazy names work
    assert mlpnas.supernet.Supernet.__module__ == "mlpnas.supernet._supernet"
