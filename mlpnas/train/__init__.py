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
    RECIPE_DEFAULTS,
    RECIPE_KEYS,
    STANDALONE_RECIPE_KEYS,
    data_fingerprint,
    first_difference,
    recipe_fingerprint,
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
    mixes_batches,
    restoring,
    run_training,
    setup_device,
    watching_epochs,
)
from ._losses import Losses
from ._retrain import INITS, RetrainJob, retrain

__all__ = ["CHECKPOINT", "EvalSetting", "INITS", "METRICS", "RECIPE_DEFAULTS", "RECIPE_KEYS",
           "STANDALONE_RECIPE_KEYS", "TIMING", "DistEnv", "Job", "Losses", "RetrainJob",
           "RunFolder",
           "TrainResult", "autocast", "data_fingerprint", "evaluate", "evaluate_metrics",
           "first_difference",
           "has_batchnorm", "load_checkpoint", "mixes_batches", "recalibrate_bn",
           "recipe_fingerprint", "restoring", "retrain", "run_training", "setup_device",
           "watching_epochs"]
