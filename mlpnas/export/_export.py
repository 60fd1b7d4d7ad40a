"""Exported architectures: a folder with `arch.json` (the architecture key, its space and the
full network description), `model.safetensors` (the weights) and `README.md` (a short model
card). `load_exported(path)` turns the folder back into the timm-style `MlpBackbone`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_target, write_json_atomic, write_text_atomic
from ..models import ARCH_FILE, FORMAT, WEIGHTS_FILE, MlpBackbone, read_arch_file, read_weights
from ..spec import NetSpec

CARD_FILE = "README.md"


def model_card(info: Mapping[str, Any]) -> str:
    m = info.get("metrics", {})
    lines = [f"# {info['arch']}", "",
             f"Architecture found by mlpnas in space `{info.get('space')}` (scale "
             f"`{info.get('scale')}`).", "",
             "| | |", "|---|---|"]
    rows = [("architecture key", f"`{info['arch']}`"),
            ("input", "x".join(str(v) for v in info["netspec"]["img_size"])),
            ("classes", info["netspec"]["num_classes"]),
            ("MFLOPs (fvcore MACs, batch 1)", m.get("mflops")),
            ("parameters (M)", m.get("params_m")),
            ("latency (ms, predicted)", m.get("latency_ms")),
            ("latency (ms, measured)", m.get("latency_ms_measured")),
            ("latency setting", m.get("latency_setting")),
            (f"search score `{m.get('score')}`", m.get("score_value")),
            ("the score", m.get("score_label")),
            ("score measured on", m.get("score_on")),
            ("accuracy", m.get("accuracy")),
            ("accuracy measured on", m.get("accuracy_on")),
            ("supernet accuracy (inherited weights)", m.get("supernet_accuracy")),
            ("ONNX: max abs difference to PyTorch (onnxruntime)", m.get("onnx_max_abs_error")),
            ("weights", info.get("weights_from"))]
    for k, v in rows:
        if v is not None:
            text = (f"{v:.3g}" if isinstance(v, float) and abs(v) < 1e-3 else
                    round(v, 4) if isinstance(v, float) else v)
            lines.append(f"| {k} | {text} |")
    stages = info["netspec"]["stages"]
    lines += ["", "Stages (width, blocks as family/options/MLP hidden):", ""]
    for i, st in enumerate(stages):
        blocks = ", ".join(
            f"{b['mixer']}({', '.join(f'{k}={v}' for k, v in b['options'].items())})/"
            f"{b['mlp_hidden']}" for b in st["blocks"])
        lines.append(f"- stage {i}: width {st['dim']}: {blocks}")
    lines += ["", "Load it with:", "", "```python", "import mlpnas",
              "model = mlpnas.load_exported('PATH/TO/THIS/FOLDER')", "```", ""]
    return "\n".join(lines)


def export_model(model: MlpBackbone, out_dir: str | Path, arch_key: str,
                 info: Mapping[str, Any] | None = None) -> Path:
    """Write `model` (a static MlpBackbone) to `out_dir` as an exported architecture."""
    from safetensors.torch import save

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    # serialised in memory and written by Python: the file gets the usual mode (safetensors'
    # own writer makes a 0600 file), and a full disk or a read-only folder is an OSError
    data = save(state, metadata={"format": FORMAT, "arch": arch_key})
    with atomic_target(out / WEIGHTS_FILE) as tmp:
        tmp.write_bytes(data)
    record = write_arch_file(out, model.spec, arch_key, info)
    write_text_atomic(out / CARD_FILE, model_card(record))
    return out


def write_export(model: MlpBackbone, out_dir: str | Path, arch_key: str,
                 info: Mapping[str, Any] | None = None, onnx: bool = False) -> Path:
    """Export `model` (eval mode) to `out_dir`; with `onnx`, also `model.onnx`, checked
    against PyTorch in onnxruntime, the check recorded in the model card."""
    folder = export_model(model, out_dir, arch_key, info)
    if onnx:
        from ._onnx import ONNX_FILE, export_onnx, onnx_max_error

        cpu = model.cpu()
        input_size = (model.in_chans, *model.spec.img_size)
        path = export_onnx(cpu, folder / ONNX_FILE, input_size)
        x = torch.randn(1, *input_size)
        info = dict(info or {})
        info["metrics"] = {**info.get("metrics", {}),
                           "onnx_max_abs_error": onnx_max_error(path, cpu, x)}
        export_model(cpu, folder, arch_key, info)  # the model card records the ONNX check
    return folder


def export_fresh(spec: NetSpec, out_dir: str | Path, arch_key: str,
                 info: Mapping[str, Any] | None = None, seed: int = 0,
                 onnx: bool = False) -> Path:
    """Export the architecture `spec` freshly initialised (torch seed `seed`; the global
    random state is left as it was): an architecture found without a supernet, for
    `mlpnas retrain` to train."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MlpBackbone(spec).eval()
    return write_export(model, out_dir, arch_key, info, onnx)


def write_arch_file(out_dir: str | Path, spec: NetSpec, arch_key: str,
                    info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Write `arch.json` alone (an architecture to train from scratch, with no weights yet);
    returns the record written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "arch": arch_key, "netspec": spec.to_dict(), **dict(info or {})}
    write_json_atomic(out / ARCH_FILE, record)
    return record


def load_exported(path: str | Path, map_location: str | torch.device = "cpu",
                  num_classes: int | None = None) -> MlpBackbone:
    """Load an exported architecture (folder, or its arch.json) as a timm-style model in eval
    mode. With `num_classes` different from the export's, the classifier is reset (for
    fine-tuning) and only the backbone weights are loaded. Both files are checked before
    the model is built (`mlpnas.models.read_weights`)."""
    record = read_arch_file(path)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    spec = NetSpec.from_dict(record["netspec"])
    state = read_weights(folder, spec, map_location)
    model = MlpBackbone(spec)
    model.load_state_dict(state)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model.to(map_location).eval()
