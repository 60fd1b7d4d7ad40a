"""The file format of an exported architecture, as far as building a model needs it: the
folder holds `arch.json` (the architecture key, its space and the full network description)
and `model.safetensors` (the weights). Writing and loading whole exports is
`mlpnas.export`; the timm entry `mlpnas_exported` reads the same files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..spec import NetSpec, SpecError

ARCH_FILE = "arch.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "mlpnas-export-1"


def read_arch_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    arch_file = folder / ARCH_FILE
    if not arch_file.is_file():
        raise UserError(f"'{folder}' is not an exported architecture: it has no {ARCH_FILE}; "
                        f"export one with `mlpnas export RUN_DIR`.")
    try:
        record = json.loads(arch_file.read_text())
        NetSpec.from_dict(record["netspec"])
    except (json.JSONDecodeError, KeyError, SpecError) as e:
        raise UserError(f"'{arch_file}' is damaged or not an mlpnas export ({e}); export the "
                        f"architecture again.") from None
    return record
