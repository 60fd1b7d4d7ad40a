"""Training, shared by every model mlpnas trains: the resumable loop (devices,
DistributedDataParallel, AdamW with a cosine schedule, atomic checkpoints, metrics), the
recipe's losses, evaluation and BatchNorm re-estimation, the fingerprint that says whether a
run folder may be resumed, and standalone (re)training of an exported architecture. The
supernet's own job (the sandwich step) is in `mlpnas.supernet`."""

from ._eval import (
    EvalSetting,
    autocast,
    evaluate,
    evaluate_metrics,
    has_batchnorm,
    recalibrate_bn,
)
from ._fingerprint import (
    LEGACY_RECIPE_VALUES,
    RECIPE_KEYS,
    STANDALONE_RECIPE_KEYS,
    data_fingerprint,
    first_difference,
)
from ._loop import (
    CHECKPOINT,
    METRICS,
    TIMING,
    DistEnv,
    Job,
    RunFolder,
    TrainResult,
    load_checkpoint,
    restoring,
    run_training,
    setup_device,
    watching_epochs,
)
from ._losses import Losses
from ._recipe import Recipe, section_values
from ._retrain import INITS, RetrainJob, retrain

__all__ = ["CHECKPOINT", "EvalSetting", "INITS", "LEGACY_RECIPE_VALUES", "METRICS", "RECIPE_KEYS",
           "STANDALONE_RECIPE_KEYS", "TIMING", "DistEnv", "Job", "Losses", "Recipe",
           "RetrainJob", "RunFolder", "TrainResult", "autocast", "data_fingerprint",
           "evaluate", "evaluate_metrics", "first_difference", "has_batchnorm",
           "load_checkpoint", "recalibrate_bn", "restoring", "retrain", "run_training",
           "section_values", "setup_device", "watching_epochs"]
