import json
from pathlib import Path

import pytest
import torch

REF_DIR = Path(__file__).parent / "data" / "reference"


def reference_cases():
    return json.loads((REF_DIR / "cases.json").read_text())["cases"]


def load_case(name: str):
    from safetensors.torch import load_file

    data = load_file(str(REF_DIR / f"{name}.safetensors"))
    state = {k[len("state."):]: v for k, v in data.items() if k.startswith("state.")}
    return data["input"], data["output"], state


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
