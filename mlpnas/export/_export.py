"""Exported architectures: a folder with `arch.json` (the architecture key, its space, the
full network description and the data's preprocessing), `model.safetensors` (the weights),
`README.md` (a short model card) and `config.json` (timm's model-hub configuration, so the
folder is a timm model: `timm.create_model("local-dir:FOLDER", pretrained=True)`, or upload
it as is to a model hub). `load_exported(path)` turns the folder back into the timm-style
backbone."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import atomic_target, write_json_atomic, write_text_atomic
from ..models import (
    ARCH_FILE,
    FORMAT,
    WEIGHTS_FILE,
    ExportedBackbone,
    MlpBackbone,
    full_exported_cfg,
    read_arch_file,
    read_weights,
)
from ..spec import NetSpec

CARD_FILE = "README.md"
HUB_CONFIG_FILE = "config.json"
# YAML front matter a model hub reads from README.md: which library loads the model
_HUB_HEADER = ["---", "library_name: timm", "tags:", "- image-classification", "- timm",
               "- mlpnas", "---", ""]


def _numbers(values) -> str:
    return "(" + ", ".join(f"{float(v):.4g}" for v in values) + ")"


def preprocessing_text(record: Mapping[str, Any]) -> str | None:
    """The card's line on how an image becomes the input, or None for an export that
    predates that record."""
    p = record.get("preprocessing")
    if not p:
        return None
    return (f"resize ({p.get('interpolation')}) and center-crop {p.get('crop_pct')} to "
            f"{'x'.join(str(v) for v in record['netspec']['img_size'])}, mean "
            f"{_numbers(p['mean'])}, std {_numbers(p['std'])}")


def model_card(info: Mapping[str, Any]) -> str:
    m = info.get("metrics", {})
    size = "x".join(str(v) for v in info["netspec"]["img_size"])
    onnx = None
    if m.get("onnx_max_abs_error") is not None:
        onnx = (f"model.onnx: input 'images' (N, {info['netspec'].get('in_chans', 3)}, "
                f"{size.replace('x', ', ')}), any batch size N, this image size only")
    lines = [*_HUB_HEADER, f"# {info['arch']}", "",
             f"Architecture found by mlpnas in space `{info.get('space')}` (scale "
             f"`{info.get('scale')}`).", "",
             "| | |", "|---|---|"]
    rows = [("architecture key", f"`{info['arch']}`"),
            ("input", size),
            ("input preprocessing", preprocessing_text(info)),
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
            ("ONNX", onnx),
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
              "model = mlpnas.load_exported('PATH/TO/THIS/FOLDER')",
              "# or through timm (mlpnas.models registers the architecture with timm):",
              "import timm, mlpnas.models",
              "model = timm.create_model('local-dir:PATH/TO/THIS/FOLDER', pretrained=True)",
              "config = timm.data.resolve_data_config(model=model)  # the preprocessing above",
              "```", ""]
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
    write_hub_config(out, model, record)
    write_text_atomic(out / CARD_FILE, model_card(record))
    return out


def write_hub_config(out: Path, model: MlpBackbone, record: Mapping[str, Any]) -> None:
    """`config.json` as timm's `save_for_hf` writes it for `model` as an exported architecture:
    the NetSpec as its `model_args`, and the data's preprocessing in its `pretrained_cfg`."""
    from timm.models import save_for_hf

    had = "pretrained_cfg" in model.__dict__
    before = model.__dict__.get("pretrained_cfg")
    model.pretrained_cfg = full_exported_cfg(record)
    try:
        with tempfile.TemporaryDirectory(dir=out, prefix=".hub-") as tmp:
            save_for_hf(model, tmp, model_args={"spec": dict(record["netspec"])},
                        safe_serialization=True)
            os.replace(Path(tmp) / HUB_CONFIG_FILE, out / HUB_CONFIG_FILE)
    finally:
        if had:
            model.pretrained_cfg = before
        else:
            del model.pretrained_cfg


def write_export(model: MlpBackbone, out_dir: str | Path, arch_key: str,
                 info: Mapping[str, Any] | None = None, onnx: bool = False) -> Path:
    """Export `model` (eval mode) to `out_dir`; with `onnx`, also `model.onnx` (any batch
    size; the architecture key, input size and preprocessing in its metadata), checked
    against PyTorch in onnxruntime at batch 1 and 3, the check recorded in the model card."""
    folder = export_model(model, out_dir, arch_key, info)
    if onnx:
        from ._onnx import CHECK_BATCHES, ONNX_FILE, export_onnx, onnx_max_error

        cpu = model.cpu()
        input_size = (model.in_chans, *model.spec.img_size)
        info = dict(info or {})
        meta = {"arch": arch_key, **{k: v for k, v in (info.get("preprocessing") or {}).items()
                                     if k != "input_size"}}
        path = export_onnx(cpu, folder / ONNX_FILE, input_size, meta)
        error = max(onnx_max_error(path, cpu, torch.randn(n, *input_size))
                    for n in CHECK_BATCHES)
        info["metrics"] = {**info.get("metrics", {}), "onnx_max_abs_error": error}
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
                  num_classes: int | None = None) -> ExportedBackbone:
    """Load an exported architecture (folder, or its arch.json) as a timm-style model in eval
    mode, with the pretrained_cfg `timm.create_model("mlpnas_exported", ...)` gives it (so
    `timm.data.resolve_data_config(model=m)` returns the preprocessing of its training data).
    With `num_classes` different from the export's, the classifier is reset (for
    fine-tuning) and only the backbone weights are loaded. Both files are checked before
    the model is built (`mlpnas.models.read_weights`)."""
    record = read_arch_file(path)
    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    spec = NetSpec.from_dict(record["netspec"])
    state = read_weights(folder, spec, map_location)
    model = ExportedBackbone(spec)
    model.pretrained_cfg = model.default_cfg = full_exported_cfg(record)
    model.load_state_dict(state)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    return model.to(map_location).eval()
