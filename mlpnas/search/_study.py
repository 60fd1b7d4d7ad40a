"""Optuna glue: samplers, storage, creating/resuming a study, running it to a trial count
with a progress bar (shared by several workers through the storage)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import optuna
from optuna.trial import TrialState

from ..errors import UserError
from ..space import Arch
from ._objective import WORKER_ATTR, arch_params
from ._runfolder import AXIS, LEGACY_SCORE, objective_directions

SAMPLERS = ("nsga2", "tpe", "random")


def make_sampler(name: str, seed: int, population_size: int = 20) -> optuna.samplers.BaseSampler:
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=population_size, seed=seed)
    if name == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                              constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise UserError(f"unknown sampler '{name}'; use search.sampler= one of "
                    f"{', '.join(SAMPLERS)}.")


def default_storage_url(out_dir: Path) -> str:
    return f"sqlite:///{(out_dir / 'study.db').resolve()}"


def _parsed_url(url: str):
    """SQLAlchemy's reading of a storage URL, or None where it cannot read it."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url)
    except Exception:
        return None


def masked_url(url: str) -> str:
    """A storage URL fit to print: its password, if any, replaced by ***."""
    parsed = _parsed_url(url)
    if parsed is not None:
        return parsed.render_as_string(hide_password=True)
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)  # mask `user:password@` by hand


def _short_reason(error: BaseException, url: str) -> str:
    """A driver error as a short clause: the first line of its root cause, without the
    SQLAlchemy prefix, the password, or a trailing sentence."""
    cause = error
    while cause.__cause__ is not None:  # Optuna's StorageInternalError wraps the driver's
        cause = cause.__cause__
    cause = getattr(cause, "orig", None) or cause
    text = str(cause).strip().splitlines()[0].strip() if str(cause).strip() else ""
    text = re.sub(r"^\([\w.]+\)\s*", "", text)  # "(psycopg.OperationalError) ..."
    parsed = _parsed_url(url)
    password = parsed.password if parsed is not None else None
    if password:  # where it stands as a word of its own ("p" is not hidden in "plugin")
        text = re.sub(rf"(?<!\w){re.escape(str(password))}(?!\w)", "***", text)
    text = re.split(r"\.\s+(?=[A-Z])", text)[0].rstrip(". ;")  # the first sentence
    if len(text) > 120:
        text = text[:117].rstrip() + "..."
    return text or type(cause).__name__


SQLITE_HEADER = b"SQLite format 3\x00"
OPTUNA_TABLES = {"studies", "trials", "alembic_version"}


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite storage URL, or None for any other storage."""
    parsed = _parsed_url(url)
    if parsed is not None and parsed.drivername.startswith("sqlite") and parsed.database \
            and parsed.database != ":memory:":
        return Path(parsed.database)
    return None


def check_sqlite_file(db: Path) -> None:
    """Refuse, before the storage opens it, a study file that SQLite would silently treat as
    a new empty database (a file of 0 or 1 bytes) or that is not SQLite, and an SQLite
    database of something else (the storage would add its tables to it)."""
    if not db.is_file():
        return
    size = db.stat().st_size
    if size == 0:
        raise UserError(f"the study file '{db}' is empty (0 bytes), so it holds no study "
                        f"(this run's trials are not in it); restore it from a backup, or "
                        f"move it away to start the search afresh.")
    with open(db, "rb") as fh:
        header = fh.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise UserError(f"the study file '{db}' is not an SQLite database ({size} bytes of "
                        f"something else), so it holds no study; restore it from a backup, or "
                        f"move it away to start the search afresh.")
    import sqlite3

    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True,
                                                timeout=60)) as con:
            tables = {r[0] for r in con.execute("select name from sqlite_master "
                                                "where type = 'table'")}
    except sqlite3.OperationalError as e:
        if "locked" in str(e):  # another worker writes to it: the storage will wait too
            return
        raise UserError(f"the study file '{db}' is damaged ({e}); restore it from a backup, "
                        f"or move it away to start the search afresh.") from None
    except sqlite3.Error as e:
        raise UserError(f"the study file '{db}' is damaged ({e}); restore it from a backup, "
                        f"or move it away to start the search afresh.") from None
    if tables and not OPTUNA_TABLES.issubset(tables):
        shown = ", ".join(sorted(tables)[:5])
        raise UserError(f"'{db}' is an SQLite database of something else (its tables: "
                        f"{shown}), not a study storage; move it away, or give search.storage "
                        f"another file.")


# what SQLite says of a file that is damaged (SQLITE_CORRUPT) or not a database (NOTADB)
SQLITE_DAMAGED = ("database disk image is malformed", "file is not a database")


@contextlib.contextmanager
def damaged_storage_refused(url: str):
    """A study database found damaged while it is used (a damaged page is read only when
    the storage first touches it) is one sentence, not the driver's traceback."""
    try:
        yield
    except Exception as e:
        cause, said = e, None
        while cause is not None and said is None:
            said = next((t for t in SQLITE_DAMAGED if t in str(cause)), None)
            cause = cause.__cause__ or cause.__context__
        if said is None:
            raise
        where = sqlite_file(url) or masked_url(url)
        raise UserError(f"the study file '{where}' is damaged ({said}); restore it from a "
                        f"backup, or move it away to start the search afresh.") from None


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """An RDB storage with heartbeats: a trial whose worker died is failed after a grace
    period and queued again, so no architecture is lost when a run is killed."""
    db = sqlite_file(url)
    if db is not None:
        check_sqlite_file(db)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=2)
        kwargs = {}
        if url.startswith("sqlite"):
            kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        try:
            storage = optuna.storages.RDBStorage(url, heartbeat_interval=20, grace_period=60,
                                                 heartbeat_stale_trial_callback=retry, **kwargs)
        except Exception as e:  # sqlalchemy / driver errors vary by backend
            if db is not None and db.is_file():
                raise UserError(f"the study file '{db}' is damaged ({_short_reason(e, url)}); "
                                f"restore it from a backup, or move it away to start the "
                                f"search afresh.") from None
            raise UserError(f"cannot open the study storage '{masked_url(url)}' "
                            f"({_short_reason(e, url)}); check the URL, that the server is "
                            f"reachable and its driver installed, or leave search.storage "
                            f"unset for a file in the run folder.") from None
    if storage.engine.name == "sqlite":
        _serialise_sqlite(storage.engine)
    return storage


def _serialise_sqlite(engine) -> None:
    """Make every SQLite transaction take the database's write lock when it begins.

    SQLite ignores the SELECT ... FOR UPDATE with which Optuna claims a waiting (enqueued)
    trial, and Python's sqlite3 opens a transaction only at the first write; so two workers
    could both read a trial as WAITING, both claim it and both evaluate it, and the second to
    finish failed with "Cannot tell a COMPLETE trial". With BEGIN IMMEDIATE the read and the
    claim are one atomic step; the other worker waits (up to the connection timeout)."""
    from sqlalchemy import event

    def no_implicit_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below opens them

    def begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", no_implicit_begin)
    event.listen(engine, "begin", begin_immediate)
    engine.dispose()  # pooled connections made before the listeners are replaced


def open_study(storage: optuna.storages.BaseStorage, name: str, objectives: list[str],
               sampler: optuna.samplers.BaseSampler,
               budgets: Mapping[str, float] | None = None,
               score: Mapping | None = None) -> optuna.Study:
    """Create or resume the study `name`; a study run with other objectives, budgets or
    accuracy axis (`score`: the record of the score and its settings) is refused rather
    than mixed with this one. The study's metric names are the score's key and the costs."""
    score = dict(score or LEGACY_SCORE)
    directions = objective_directions(objectives, score["direction"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                directions=directions, load_if_exists=True)
    if [d.name.lower() for d in study.directions] != directions:
        raise UserError(f"study '{name}' in this storage was created with other objectives; "
                        f"use the same search.objectives or another out_dir.")
    if study.metric_names is None:  # optuna-dashboard and optuna.visualization show them
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([score["key"] if o == AXIS else o for o in objectives])
    budgets = {k: float(v) for k, v in sorted((budgets or {}).items())}
    for attr, value, option in (("objectives", objectives, "search.objectives"),
                                ("budgets", budgets, "budgets (search.max_*)"),
                                ("score", score, "search.score and scoring.*")):
        stored = study.user_attrs.get(attr)
        if stored is None:
            study.set_user_attr(attr, value)
        elif stored != value:
            raise UserError(f"study '{name}' in this storage was run with {attr} "
                            f"{_short(stored)}, this run asks for {_short(value)}; use the "
                            f"same {option}, or another out_dir (and search.storage, if set).")
    return study


def _short(value) -> str:
    """A stored setting for a sentence: a score record by its key and settings."""
    if isinstance(value, Mapping) and "key" in value:
        extra = {k: v for k, v in value.items() if k in ("scoring", "reference_archs",
                                                         "supernet_trained")}
        return f"{value['key']}" + (f" {extra}" if extra else "")
    return str(value)


def _dead_here(tag: str | None) -> bool:
    """Whether `tag` names a process of this machine that no longer runs."""
    host, _, pid = (tag or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def fail_dead_trials(study: optuna.Study, alone: bool = False, grace_s: float = 60.0) -> int:
    """Mark FAIL the RUNNING trials whose worker has died (killed, crashed), without waiting
    for Optuna's heartbeat grace period to pass; returns how many. A trial is dead when
    - its worker tag names a process of this machine that no longer runs;
    - it has no worker tag (the worker died between claiming it and tagging it, which a live
      worker does at once) and started more than `grace_s` ago;
    - `alone`: the caller knows that no other worker can be running (all workers of a study
      in a SQLite file of the run folder run on this machine and hold a lock while they do),
      so every RUNNING trial is a dead one's.
    A tagged trial of a worker on another machine is left to the heartbeat."""
    import datetime

    now = datetime.datetime.now()
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        tag = t.user_attrs.get(WORKER_ATTR)
        started = t.datetime_start
        stale = tag is None and started is not None and \
            (now - started).total_seconds() > grace_s
        if alone or _dead_here(tag) or stale:
            with contextlib.suppress(Exception):  # finished meanwhile by a live worker
                study.tell(t.number, state=TrialState.FAIL)
                n += 1
    return n


def seed_trials(study: optuna.Study, seeds: Mapping[str, Arch], alone: bool = False) -> int:
    """Enqueue hand-designed architectures (e.g. all-cycle, all-shift) once per study.

    A seed is enqueued unless a trial of its architecture is already complete, running or
    waiting; so one whose trials all failed (the run was interrupted while evaluating it:
    its trial is failed first, see `fail_dead_trials`) is queued again and evaluated when
    the study resumes. Returns the number enqueued."""
    fail_dead_trials(study, alone)
    trials = study.get_trials(deepcopy=False)
    alive = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    added = 0
    for label, arch in seeds.items():
        params = arch_params(arch)
        if any(t.state in alive and (t.system_attrs.get("fixed_params") or t.params) == params
               for t in trials):
            continue
        study.enqueue_trial(params, user_attrs={"seed": label})
        added += 1
    return added


def completed(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def waiting(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,)))


def known_accuracies(*studies: optuna.Study) -> dict[str, float]:
    """Accuracy of every architecture already evaluated in these studies (by key)."""
    out = {}
    for study in studies:
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if "arch" in t.user_attrs and "accuracy" in t.user_attrs:
                out[t.user_attrs["arch"]] = float(t.user_attrs["accuracy"])
    return out


def best_feasible(study: optuna.Study) -> tuple[float, str] | None:
    """(accuracy axis value, arch key) of the best trial within every budget: the best by
    the accuracy axis of Optuna's feasible Pareto front (`Study.best_trials`), or None."""
    front = study.best_trials
    if not front:
        return None
    sign = -1.0 if (study.user_attrs.get("score") or LEGACY_SCORE)["direction"] == "minimize" \
        else 1.0
    best = max(front, key=lambda t: sign * float(t.user_attrs.get("accuracy", 0.0)))
    return float(best.user_attrs.get("accuracy", 0.0)), best.user_attrs.get("arch", "")


def run_trials(study: optuna.Study, objective: Callable, n_trials: int, progress: bool = True,
               label: str = "search", costs_label: Callable[[str], str] | None = None,
               callbacks: Sequence[Callable] = ()) -> int:
    """Run trials until the study holds `n_trials` complete ones (counting every worker's);
    returns the number this call ran. A resumed study also runs the trials still queued (a
    seed architecture whose evaluation was interrupted), even beyond `n_trials`.
    `callbacks` are Optuna callbacks (study, frozen trial) called after every trial, e.g. a
    TensorBoard writer or optuna-integration's MLflow one."""
    done = completed(study)
    if done:
        n_trials = max(n_trials, done + waiting(study))
    if done >= n_trials:
        return 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_trials, initial=done, desc=label, dynamic_ncols=True)
    ran = 0

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        nonlocal ran
        ran += 1
        if bar is not None:
            bar.n = min(completed(study), n_trials)
            best = best_feasible(study)
            if best is not None:
                extra = f" {costs_label(best[1])}" if costs_label else ""
                bar.set_postfix_str(f"best {best[0]:.3f}{extra}", refresh=False)
            bar.refresh()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # no "Trial N failed" warning with its traceback: with catch=() the error itself
        # ends the run, and the command line says it in one sentence
        optuna.logging.set_verbosity(optuna.logging.ERROR)
        # stops every worker's loop once the study holds n_trials complete trials
        stop = optuna.study.MaxTrialsCallback(n_trials, states=(TrialState.COMPLETE,))
        study.optimize(objective, callbacks=[callback, *callbacks, stop], catch=())
    if bar is not None:
        bar.close()
    return ran
