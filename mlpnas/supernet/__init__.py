"""The weight-sharing supernet: elastic ops, set_active / extract, once-for-all training
(its recipe, `SupernetRecipe`, and its sandwich job over `mlpnas.train`'s loop), subnet
evaluation with inherited weights, export of subnets, and the differentiable meta-kernel
search."""

from ..mixers import (
    ElasticCycleMixer,
    ElasticHireMixer,
    ElasticPermuteMixer,
    ElasticShiftMixer,
)
from ._elastic import ElasticMlp, sort_mlp_channels
from ._eval import SubnetEvaluator, extract_recalibrated, subnet_accuracy, subnet_metrics
from ._export import export_subnets
from ._metakernel import (
    ArchParameters,
    MetaKernelResult,
    check_metakernel_space,
    train_metakernel,
)
from ._recipe import FEW_SHOT, SAMPLINGS, SupernetRecipe
from ._supernet import FewShotSupernet, SuperBlock, Supernet, build_supernet
from ._train import (
    describe_mismatch,
    fingerprint,
    load_trained_supernet,
    train_supernet,
)

__all__ = [
    "FEW_SHOT",
    "SAMPLINGS",
    "ArchParameters",
    "ElasticCycleMixer",
    "ElasticHireMixer",
    "ElasticMlp",
    "ElasticPermuteMixer",
    "ElasticShiftMixer",
    "FewShotSupernet",
    "MetaKernelResult",
    "SubnetEvaluator",
    "SuperBlock",
    "SupernetRecipe",
    "Supernet",
    "build_supernet",
    "check_metakernel_space",
    "describe_mismatch",
    "export_subnets",
    "extract_recalibrated",
    "fingerprint",
    "load_trained_supernet",
    "sort_mlp_channels",
    "subnet_accuracy",
    "subnet_metrics",
    "train_metakernel",
    "train_supernet",
]
