"""Parameters and GMACs of the 15 registered published models next to the authors' numbers,
and the papers' accuracy chart redrawn against our GMACs.

    python experiments/published_variants/make_table.py      # ~1 minute

Writes results.md, results.json and top1_vs_gmacs.png next to this file (or --out DIR).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from mlpnas.cost import count_params, fvcore_count, machine_description
from mlpnas.models import MlpBackbone, published_spec

# authors' numbers: (params M, GFLOPs, ImageNet top-1 %, source). The four marked "code" were
# counted on the authors' released code (shared/reference/README.md: params, fvcore GMACs at
# 224x224); the others are the papers' tables, rounded as published.
AUTHORS = {
    "cyclemlp_b1": (15.16, 2.13, 78.9, "code"), "cyclemlp_b2": (27, 3.9, 81.6, "paper"),
    "cyclemlp_b3": (38, 6.9, 82.4, "paper"), "cyclemlp_b4": (52, 10.1, 83.0, "paper"),
    "cyclemlp_b5": (76, 12.3, 83.2, "paper"),
    "asmlp_t": (28.28, 4.38, 81.3, "code"), "asmlp_s": (50, 8.5, 83.1, "paper"),
    "asmlp_b": (88, 15.2, 83.3, "paper"),
    "hiremlp_tiny": (18.04, 2.15, 79.7, "code"), "hiremlp_small": (33, 4.2, 82.1, "paper"),
    "hiremlp_base": (58, 8.1, 83.2, "paper"), "hiremlp_large": (96, 13.4, 83.8, "paper"),
    "vip_s7": (25.12, 6.92, 81.5, "code"), "vip_m7": (55, 16.3, 82.7, "paper"),
    "vip_l7": (88, 24.4, 83.2, "paper"),
}
FAMILIES = {"cyclemlp": "CycleMLP", "asmlp": "AS-MLP", "hiremlp": "Hire-MLP", "vip": "ViP"}


def measure() -> list[dict]:
    rows = []
    for name, (p_ref, g_ref, top1, source) in AUTHORS.items():
        model = MlpBackbone(published_spec(name)).eval()
        params = count_params(model) / 1e6
        macs, unsupported = fvcore_count(model, (3, 224, 224))
        rows.append({"model": name, "family": FAMILIES[name.split("_")[0]],
                     "params_m": round(params, 3), "authors_params_m": p_ref,
                     "params_diff_pct": round(100 * (params - p_ref) / p_ref, 2),
                     "gmacs": round(macs / 1e9, 3), "authors_gmacs": g_ref,
                     "gmacs_diff_pct": round(100 * (macs / 1e9 - g_ref) / g_ref, 2),
                     "top1": top1, "authors_source": source,
                     "uncounted_ops": sorted(unsupported)})
        print(json.dumps({k: rows[-1][k] for k in ("model", "params_m", "gmacs")}), flush=True)
        del model
    return rows


def draw(rows, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.8))
    for fam, marker in zip(FAMILIES.values(), "osD^"):
        pts = sorted((r["gmacs"], r["top1"], r["model"]) for r in rows if r["family"] == fam)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=marker, label=fam)
        for g, t, n in pts:
            ax.annotate(n.split("_")[1].upper(), (g, t), textcoords="offset points",
                        xytext=(4, -10), fontsize=7)
    ax.set_xlabel("GMACs at 224x224 (fvcore, counted on mlpnas' models)")
    ax.set_ylabel("ImageNet-1k top-1 (%) as published")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Published MLP models: accuracy against mlpnas-counted compute", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = ap.parse_args()
    rows = measure()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"machine": f"{machine_description()}, torch {torch.__version__}", "rows": rows},
        indent=1) + "\n")
    lines = ["| model | params (M) | authors | diff | GMACs | authors | diff | top-1 (published) "
             "| authors' numbers from |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['params_m']:.2f} | {r['authors_params_m']} | "
                     f"{r['params_diff_pct']:+.2f}% | {r['gmacs']:.2f} | {r['authors_gmacs']} | "
                     f"{r['gmacs_diff_pct']:+.2f}% | {r['top1']} | {r['authors_source']} |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    draw(rows, args.out / "top1_vs_gmacs.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
