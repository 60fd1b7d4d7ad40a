"""Fixtures only; what the test files share otherwise is in helpers.py."""

import hashlib
import shutil

import pytest
import torch
from helpers import SHARED_RUN, run_task


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _snapshot(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tiny_search_run(tmp_path_factory):
    """One finished search run of the tiny space (helpers.SHARED_RUN: 512 training images, one
    epoch, twelve NSGA-II trials under search.max_mflops=0.15, with the random baseline,
    measured latencies and exported Pareto architectures), made once per session for the
    tests that only read a run: the run folder. Its supernet and cost tables are beside it
    (../supernet, ../cache). A test that changes the run works on `tiny_search_run_copy`;
    at the end of the session the folder must hold exactly what it held at the start."""
    base = tmp_path_factory.mktemp("tiny_search_run")
    run_task("search", [*SHARED_RUN, f"out_dir={base / 'search'}",
                        f"supernet_dir={base / 'supernet'}", f"cache_dir={base / 'cache'}"])
    run = base / "search"
    before = _snapshot(run)
    yield run
    assert _snapshot(run) == before, "a test changed the shared tiny search run; " \
                                     "use tiny_search_run_copy for that"


@pytest.fixture
def tiny_search_run_copy(tiny_search_run, tmp_path):
    """A copy of the shared tiny search run, for a test that writes into the run folder (its
    config.yaml still names the shared supernet and cost tables, which stay read-only)."""
    return shutil.copytree(tiny_search_run, tmp_path / "run")
