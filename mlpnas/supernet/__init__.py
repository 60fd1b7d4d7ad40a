"""The weight-sharing supernet: elastic ops, set_active / extract, once-for-all training,
norm-statistics recalibration."""

from ._elastic import (
    ElasticCycleMixer,
    ElasticHireMixer,
    ElasticMlp,
    ElasticPermuteMixer,
    ElasticShiftMixer,
    sort_mlp_channels,
)
from ._supernet import FewShotSupernet, SuperBlock, Supernet, build_supernet

__all__ = [
    "ElasticCycleMixer",
    "ElasticHireMixer",
    "ElasticMlp",
    "ElasticPermuteMixer",
    "ElasticShiftMixer",
    "FewShotSupernet",
    "SuperBlock",
    "Supernet",
    "build_supernet",
    "sort_mlp_channels",
]

from ._eval import (  # noqa: E402
    SubnetEvaluator,
    autocast,
    evaluate,
    has_batchnorm,
    recalibrate_bn,
    subnet_accuracy,
)
from ._metakernel import (  # noqa: E402
    ArchParameters,
    MetaKernelResult,
    check_metakernel_space,
    train_metakernel,
)
from ._train import (  # noqa: E402
    CHECKPOINT,
    METRICS,
    DistEnv,
    TrainResult,
    describe_mismatch,
    fingerprint,
    load_checkpoint,
    load_trained_supernet,
    train_supernet,
)

__all__ += [
    "ArchParameters",
    "CHECKPOINT",
    "METRICS",
    "DistEnv",
    "SubnetEvaluator",
    "TrainResult",
    "autocast",
    "describe_mismatch",
    "evaluate",
    "fingerprint",
    "has_batchnorm",
    "load_checkpoint",
    "load_trained_supernet",
    "MetaKernelResult",
    "check_metakernel_space",
    "recalibrate_bn",
    "subnet_accuracy",
    "train_metakernel",
    "train_supernet",
]
