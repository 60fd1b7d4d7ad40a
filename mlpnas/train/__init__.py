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
_LAZY = {
    **dict.fromkeys(("EvalSetting", "autocast", "evaluate", "evaluate_metrics", "has_batchnorm",
                     "recalibrate_bn"), "._eval"),
    **dict.fromkeys(("CHECKPOINT", "METRICS", "TIMING", "DistEnv", "Job", "RunFolder",
                     "TrainResult", "load_checkpoint", "restoring", "run_training",
                     "setup_device", "watching_epochs"), "._loop"),
    "Losses": "._losses",
    **dict.fromkeys(("INITS", "RetrainJob", "retrain"), "._retrain"),
}
__getattr__ = lazy_names(__name__, _LAZY)

__all__ = ["LEGACY_DATA_VALUES", "LEGACY_RECIPE_VALUES", "RECIPE_KEYS", "STANDALONE_RECIPE_KEYS",
           "Recipe", "data_fingerprint", "first_difference", "section_values"]
__all__ += sorted(_LAZY)
