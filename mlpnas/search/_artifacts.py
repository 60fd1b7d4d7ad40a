"""Files attached to a study with Optuna's artifact store (`optuna.artifacts`), so that
optuna-dashboard (and `optuna.artifacts.download_artifact`) offer them with the study. Optuna
takes artifacts of a trial only while it runs, and a search exports its Pareto
architectures after its trials; so a trial's files are attached to the study under names
that start with the trial: `trial12-<arch key>-model.safetensors`. A file already attached
with the same name and content is not added again, so a resumed run adds only what
changed."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _attached(store, target, storage) -> dict[str, set[str]]:
    """{file name: digests of its attached versions} of a study or trial."""
    out: dict[str, set[str]] = {}
    for meta in optuna.artifacts.get_all_artifact_meta(target, storage=storage):
        try:
            with store.open_reader(meta.artifact_id) as fh:
                out.setdefault(meta.filename, set()).add(_digest(fh.read()))
        except Exception:  # its blob is gone: attach the file again
            continue
    return out


def _attach(store, study, storage, files: Sequence[tuple[Path, str]]) -> int:
    """Attach each (file, name) not yet attached with that name and content."""
    have = _attached(store, study, storage)
    added = 0
    with tempfile.TemporaryDirectory() as tmp:
        for f, name in files:
            if not f.is_file() or _digest(f.read_bytes()) in have.get(name, set()):
                continue
            named = Path(tmp) / name  # Optuna names an artifact after its file
            shutil.copyfile(f, named)
            optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(named),
                                             study_or_trial=study, storage=storage)
            added += 1
    return added


def attach_files(storage: optuna.storages.BaseStorage, study: optuna.Study, store_dir: Path,
                 by_arch: Mapping[str, Sequence[Path]], study_files: Sequence[Path]) -> int:
    """Attach `study_files` to `study`, and each list of `by_arch` as the files of the first
    complete trial of that architecture key (`trial<N>-<key>-<file name>`); the files are
    kept in a file-system artifact store in `store_dir`. Returns how many were added."""
    store_dir.mkdir(parents=True, exist_ok=True)
    store = optuna.artifacts.FileSystemArtifactStore(str(store_dir))
    first = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        first.setdefault(t.user_attrs.get("arch"), t.number)
    files = [(f, f.name) for f in study_files]
    files += [(f, f"trial{first[key]}-{key}-{f.name}")
              for key, group in by_arch.items() if key in first for f in group]
    return _attach(store, study, storage, files)
