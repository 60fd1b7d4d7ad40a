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
