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
