"""Training, shared by every model mlpnas trains: the resumable loop (devices,
DistributedDataParallel, AdamW with a cosine schedule, atomic checkpoints, metrics), the
recipe's losses, evaluation and BatchNorm re-estimation, the fingerprint that says whether a
run folder may be resumed, and standalone (re)training of an exported architecture. The
supernet's own job (the sandwich step) is in `mlpnas.supernet`."""

from .._lazy import lazy_names
from ..errors import section_values
from ._fingerprint import (
    LEGACY_DATA_VALUES,
    LEGACY_RECIPE_VALUES,
    RECIPE_KEYS,
    STANDALONE_RECIPE_KEYS,
    data_fingerprint,
    first_difference,
)
from ._recipe import Recipe

# the loop, losses, evaluation and retraining load torch and timm: imported when first used,
# so that a recipe is built and checked without them
__getattr__ = lazy_names(__name__, {
    **dict.fromkeys(("EvalSetting", "autocast", "evaluate", "evaluate_metrics", "has_batchnorm",
                     "recalibrate_bn"), "._eval"),
    **dict.fromkeys(("CHECKPOINT", "METRICS", "TIMING", "DistEnv", "Job", "RunFolder",
                     "TrainResult", "load_checkpoint", "restoring", "run_training",
                     "setup_device", "watching_epochs"), "._loop"),
    "Losses": "._losses",
    **dict.fromkeys(("INITS", "RetrainJob", "retrain"), "._retrain"),
})

__all__ = ["CHECKPOINT", "EvalSetting", "INITS", "LEGACY_DATA_VALUES", "LEGACY_RECIPE_VALUES",
           "METRICS", "RECIPE_KEYS", "STANDALONE_RECIPE_KEYS", "TIMING", "DistEnv", "Job",
           "Losses", "Recipe", "RetrainJob", "RunFolder", "TrainResult", "autocast",
           "data_fingerprint", "evaluate", "evaluate_metrics", "first_difference",
           "has_batchnorm", "load_checkpoint", "recalibrate_bn", "restoring", "retrain",
           "run_training", "section_values", "setup_device", "watching_epochs"]
