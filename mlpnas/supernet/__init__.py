"""The weight-sharing supernet: elastic ops, set_active / extract, once-for-all training
(its recipe, `SupernetRecipe`, and its sandwich job over `mlpnas.train`'s loop), subnet
evaluation with inherited weights, export of subnets, and the differentiable meta-kernel
search."""

from .._lazy import lazy_names
from ._recipe import FEW_SHOT, SAMPLINGS, SupernetRecipe

# everything but the recipe loads torch: imported when first used, so that the recipe is
# built and checked without it
_LAZY = {
    **dict.fromkeys(("ElasticCycleMixer", "ElasticHireMixer", "ElasticPermuteMixer",
                     "ElasticShiftMixer"), "..mixers"),
    **dict.fromkeys(("ElasticMlp", "sort_mlp_channels"), "._elastic"),
    **dict.fromkeys(("SubnetEvaluator", "extract_recalibrated", "subnet_accuracy",
                     "subnet_metrics"), "._eval"),
    "export_subnets": "._export",
    **dict.fromkeys(("ArchParameters", "MetaKernelResult", "check_metakernel_space",
                     "train_metakernel"), "._metakernel"),
    **dict.fromkeys(("FewShotSupernet", "SuperBlock", "Supernet", "build_supernet"),
                    "._supernet"),
    **dict.fromkeys(("describe_mismatch", "fingerprint", "load_trained_supernet",
                     "train_supernet"), "._train"),
}
__getattr__ = lazy_names(__name__, _LAZY)

__all__ = ["FEW_SHOT", "SAMPLINGS", "SupernetRecipe"]
__all__ += sorted(_LAZY)
