"""`mlpnas info model=NAME`: a summary of one registered model."""

from __future__ import annotations

from omegaconf import DictConfig

from ..errors import UserError


def summarize(name: str, img_size: int | None = None, flops: bool = True) -> str:
    from ..cost import count_params, fvcore_count
    from ..models import PUBLISHED, MlpBackbone, published_spec

    if name not in PUBLISHED:
        raise UserError(f"unknown model '{name}'; registered models are "
                        f"{', '.join(PUBLISHED)}.")
    spec = published_spec(name) if img_size is None else published_spec(name, img_size=img_size)
    model = MlpBackbone(spec).eval()
    fam = dict(spec.meta).get("family", "?")
    lines = [f"{name}  (family: {fam}, input 3x{spec.img_size[0]}x{spec.img_size[1]}, "
             f"{spec.num_classes} classes, norm: {spec.norm})"]
    lines.append(f"{'stage':>5} {'map':>9} {'width':>6} {'depth':>6}  mixers / MLP hidden")
    for i, (st, (h, w)) in enumerate(zip(spec.stages, spec.resolutions())):
        mixers = sorted({f"{b.mixer}({', '.join(f'{k}={v}' for k, v in b.options)})"
                         for b in st.blocks})
        hidden = sorted({b.mlp_hidden for b in st.blocks})
        lines.append(f"{i:>5} {f'{h}x{w}':>9} {st.dim:>6} {len(st.blocks):>6}  "
                     f"{' '.join(mixers)} / {','.join(map(str, hidden))}")
    lines.append(f"parameters: {count_params(model) / 1e6:.2f} M")
    if flops:
        macs, _ = fvcore_count(model, (spec.in_chans, *spec.img_size))
        lines.append(f"GMACs (fvcore, batch 1): {macs / 1e9:.3f}")
    return "\n".join(lines)


def run(cfg: DictConfig) -> str:
    text = summarize(cfg.model, cfg.img_size, cfg.flops)
    print(text)
    return text
