"""What importing mlpnas costs: the subpackage list of `mlpnas/__init__.py` is complete (each
one reachable as `mlpnas.<name>` from a fresh `import mlpnas`), and the parts that only read
tables and registries (the search package, the score and cost registries) load no torch."""

import subprocess
import sys
from pathlib import Path

import mlpnas


def test_every_subpackage_is_reachable_from_a_fresh_import_mlpnas():
    found = sorted(p.parent.name for p in Path(mlpnas.__file__).parent.glob("*/__init__.py"))
    assert sorted(mlpnas._SUBPACKAGES) == found
    code = ("import mlpnas; "
            "print([n for n in mlpnas._SUBPACKAGES if getattr(mlpnas, n).__name__ "
            "!= f'mlpnas.{n}'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_search_score_and_cost_registries_load_no_torch():
    code = ("import sys, mlpnas.search, mlpnas.score, mlpnas.cost; "
            "mlpnas.score.parse_score(['naswot', 'mflops']); mlpnas.cost.COST_TABLE['mflops']; "
            "mlpnas.search.check_objectives(['accuracy', 'mflops']); "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
