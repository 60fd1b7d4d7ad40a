"""The file format of an exported architecture, as far as building a model needs it: the
folder holds `arch.json` (the architecture key, its space and the full network description)
and `model.safetensors` (the weights). Writing and loading whole exports is
`mlpnas.export`; the timm entry `mlpnas_exported` reads the same files.

Both files may come from someone else, so both are checked before they are used: arch.json
through `NetSpec.from_dict` (types, ranges, the network's size), the weights against the
network arch.json describes (names, shapes and dtypes from the file's header, before any
tensor is read; then that every value is finite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..spec import NetSpec, SpecError

ARCH_FILE = "arch.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = "mlpnas-export-1"


def read_arch_file(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        raise UserError(f"'{p}' does not exist; give the folder of an exported architecture "
                        f"(`mlpnas export RUN_DIR` writes them).")
    folder = p if p.is_dir() else p.parent
    arch_file = folder / ARCH_FILE
    if not arch_file.is_file():
        raise UserError(f"'{folder}' is not an exported architecture: it has no {ARCH_FILE}; "
                        f"export one with `mlpnas export RUN_DIR`.")
    try:
        record = json.loads(arch_file.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("arch"), str) \
                or not isinstance(record.get("netspec"), dict):
            raise SpecError("it is not an object with an 'arch' key and a 'netspec'")
        NetSpec.from_dict(record["netspec"])
    except (ValueError, RecursionError, OSError) as e:  # JSON, text, SpecError, nesting
        why = "nested too deeply" if isinstance(e, RecursionError) else e
        raise UserError(f"'{arch_file}' is damaged or not an mlpnas export ({why}); export the "
                        f"architecture again.") from None
    return record


def read_weights(folder: str | Path, spec: NetSpec, map_location="cpu") -> dict:
    """The state dict in `folder/model.safetensors`, checked against the network `spec`
    describes: the names, shapes and dtypes in the file's header first (nothing is read if
    they do not match), then that every value is finite. Any problem is one sentence."""
    from safetensors import SafetensorError, safe_open

    from .backbone import MlpBackbone

    weights = Path(folder) / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"'{folder}' has no {WEIGHTS_FILE}; the architecture file is there but "
                        f"its weights are missing; export it again.")
    with torch.device("meta"):  # names, shapes and dtypes without allocating
        ours = {k: (tuple(v.shape), v.dtype) for k, v in MlpBackbone(spec).state_dict().items()}

    def mismatch(what: str) -> UserError:
        return UserError(f"the weights in '{weights}' do not match {ARCH_FILE} ({what}); the "
                         f"two files come from different exports; export the architecture "
                         f"again.")

    try:
        with safe_open(str(weights), framework="pt", device=str(map_location)) as f:
            theirs = {}
            for k in f.keys():  # noqa: SIM118 (a safe_open handle is not iterable)
                part = f.get_slice(k)
                theirs[k] = (tuple(part.get_shape()), part.get_dtype())
            missing = sorted(set(ours) - set(theirs))
            unexpected = sorted(set(theirs) - set(ours))
            if missing or unexpected:
                raise mismatch(f"missing '{missing[0]}'" if missing else
                               f"unexpected '{unexpected[0][:80]}'")
            for k, (shape, dtype) in ours.items():
                if theirs[k][0] != shape:
                    raise mismatch(f"'{k}' has shape {theirs[k][0]} instead of {shape}")
                if theirs[k][1] != _SAFETENSORS_DTYPE.get(dtype, str(dtype)):
                    raise mismatch(f"'{k}' is stored as {theirs[k][1]}, not "
                                   f"{_SAFETENSORS_DTYPE.get(dtype, dtype)}")
            state = {k: f.get_tensor(k) for k in ours}
    except (SafetensorError, OSError) as e:
        raise UserError(f"'{weights}' cannot be read ({e}); export the architecture again.") \
            from None
    bad = next((k for k, v in state.items() if v.is_floating_point()
                and not bool(torch.isfinite(v).all())), None)
    if bad is not None:
        raise UserError(f"the weights in '{weights}' hold values that are not finite (NaN or "
                        f"infinite, in '{bad}'); the model would compute nothing useful: "
                        f"export the architecture again.")
    return state


# how safetensors headers name the dtypes of the tensors an MlpBackbone holds
_SAFETENSORS_DTYPE = {torch.float32: "F32", torch.int64: "I64"}
