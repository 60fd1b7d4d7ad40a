"""`mlpnas <verb> [hydra overrides]`: picks conf/<verb>.yaml and calls tasks/<verb>.run(cfg).

`run(verb, overrides)` is the one in-process entry: every check of the command line, the
configuration composed by Hydra's compose API, then the task; a problem the user can cause
is raised as mlpnas.errors.UserError. The command line runs through it (and, for Hydra's
own options such as `-m` or `--cfg job`, through `hydra.main` with the same checks and the
same `execute`), the Python API (`mlpnas.search(...)`, ...) and the tests too. On the command
line those errors print one sentence and exit with status 2; Ctrl-C exits with 130 and
leaves everything written so far in place (the same command resumes).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._io import CONF_DIR
from .errors import UserError

VERBS: dict[str, str] = {
    "search": "find the accuracy / cost Pareto front of a search space (+space=NAME)",
    "train": "train the weight-sharing supernet of a search space (+space=NAME)",
    "export": "export architectures of a search run (RUN_DIR): arch file, weights, ONNX",
    "retrain": "train an exported architecture (PATH) standalone to learn its true accuracy",
    "plot": "redraw a search run's plots (RUN_DIR) from its stored results",
    "rank": "train architectures of a search run (RUN_DIR) standalone; does the supernet "
            "rank them right?",
    "info": "show a registered model: stages, feature-map sizes, parameters and GMACs",
}
POSITIONAL = {"export": "run_dir", "plot": "run_dir", "retrain": "path", "rank": "run_dir"}
NEEDS_SPACE = ("search", "train")


USAGE = """usage: mlpnas <verb> [PATH] [key=value ...] [+group=option ...] [--help]

Neural-architecture search over MLP-like vision backbones (CycleMLP, AS-MLP, Hire-MLP, ViP).

verbs:
{verbs}

Options are Hydra overrides, e.g. `mlpnas search +space=cycle_vs_shift search.max_mflops=14`;
export, plot and retrain take the run folder / exported folder as PATH.
`mlpnas <verb> --help` shows the verb's options and their defaults;
`mlpnas <verb> --cfg job` prints the composed configuration without running.
"""


def _usage() -> str:
    width = max(map(len, VERBS))
    return USAGE.format(verbs="\n".join(f"  {v:<{width}}  {d}" for v, d in VERBS.items()))


def _fail(verb: str, message: str, code: int = 2) -> None:
    print(f"mlpnas{f' {verb}' if verb else ''}: error: {message}", file=sys.stderr)
    sys.exit(code)


def _drop_if_empty(folder) -> None:
    """Hydra creates the run folder before the task runs; a refused run leaves no empty one
    behind (a folder holding anything is kept untouched)."""
    if folder:
        with contextlib.suppress(OSError):  # not empty, or not there
            Path(str(folder)).rmdir()


def execute(verb: str, cfg) -> Any:
    """Run `tasks/<verb>.run(cfg)` on a composed configuration, after the value checks
    (before anything is read or written); a refused run leaves no empty out_dir behind.
    Returns what the task returns; a problem the user can cause raises UserError."""
    from omegaconf import OmegaConf

    from ._options import bad_value

    problem = bad_value(OmegaConf.to_container(cfg, resolve=False))
    if problem:
        _drop_if_empty(cfg.get("out_dir"))
        raise UserError(problem)
    module = importlib.import_module(f"mlpnas.tasks.{verb}")  # heavy: only when it runs
    try:
        return module.run(cfg)
    except UserError:
        _drop_if_empty(cfg.get("out_dir"))
        raise


def _guarded(verb: str, work) -> Any:
    """`work()` as the command line runs it: a UserError is one sentence and exit status 2,
    Ctrl-C exit status 130, a folder it may not write to one sentence."""
    try:
        return work()
    except UserError as e:
        _fail(verb, str(e))
    except KeyboardInterrupt:
        _fail(verb, "interrupted; what was written so far is kept, and running the same "
                    "command again resumes.", 130)
    except PermissionError as e:  # a read-only folder, or one owned by someone else
        where = e.filename or "a file of this run"
        _fail(verb, f"cannot write '{where}' (permission denied); give the run a folder "
                    f"you can write to (out_dir=..., supernet_dir=..., cache_dir=...).")
    except Exception as e:
        problem = disk_full(e) or out_of_memory(e)
        if problem is None:
            raise
        _fail(verb, problem)


def out_of_memory(error: BaseException) -> str | None:
    """The sentence for memory that ran out (numpy's MemoryError, torch's allocators), or
    None for any other error."""
    text = str(error)
    if isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and (
            "can't allocate memory" in text or "out of memory" in text.lower())):
        first = text.strip().splitlines()[0][:120] if text.strip() else type(error).__name__
        return (f"the memory ran out ({first}); use a smaller batch size, input size or "
                f"model, or free memory, and run the same command again (what was written "
                f"so far is kept).")
    return None


# a write that found the disk (or the user's quota, or the file-size limit) exhausted
DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
# what SQLite says when it cannot write its file (SQLITE_FULL, SQLITE_IOERR)
SQLITE_FULL = ("database or disk is full", "disk I/O error")


def disk_full(error: BaseException) -> str | None:
    """The sentence for an error caused by a full disk, anywhere in its chain of causes
    (a study storage wraps SQLite's error, which wraps nothing), or None for any other."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            where = f"'{error.filename}'" if error.filename else "a file of this run"
            return (f"cannot write {where} ({error.strerror}): the disk is full, or a quota or "
                    f"file-size limit is reached; free some space and run the same command "
                    f"again (what was written so far is kept).")
        said = next((t for t in SQLITE_FULL if t in str(error)), None)
        if type(error).__name__ == "OperationalError" and said:
            return (f"cannot write the study database ({said}): the disk is probably "
                    f"full, or a quota or file-size limit is reached; free some space and run "
                    f"the same command again (the trials completed so far are kept).")
        error = error.__cause__ or error.__context__
    return None


def hydra_quoted(text: str) -> str:
    """`text` as one quoted value of a Hydra override (a folder may hold quotes, '=' or
    spaces); a quote or backslash inside is escaped."""
    import re

    # backslashes escape only before a quote and at the end: double those, escape the quote
    body = re.sub(r"(\\*)('|$)", lambda m: m.group(1) * 2 + ("\\'" if m.group(2) else ""),
                  text)
    return f"'{body}'"


def _space_override(verb: str, overrides: list[str]) -> list[str]:
    """Check the `+space=` override before Hydra sees it, so that a missing or unknown space
    is one plain sentence; `+space=/path/file.yaml` becomes the `custom` option."""
    from .space import known_spaces

    if any(o in ("--help", "-h", "--hydra-help") or o.startswith("--cfg") for o in overrides):
        return overrides
    known = known_spaces()
    out, found = [], False
    for o in overrides:
        key, _, value = o.partition("=")
        if key.lstrip("+") == "space":
            found = True
            o = f"+space={value}"  # `space=NAME` without the '+' means the same
            if value not in known and Path(value).suffix \
                    and not value.endswith((".yaml", ".yml")):
                raise UserError(f"search space file '{value}' must be a YAML file ending "
                                f"in .yaml; rename it.")
            if value.endswith((".yaml", ".yml")):
                path = Path(value).expanduser().resolve()
                if not path.is_file():
                    raise UserError(f"search space file '{value}' does not exist.")
                out += ["+space=custom", f"space.path={path}", f"space.name={path.stem}"]
                continue
            if value == "custom":
                out.append(o)
                continue
            unknown = [v for v in _sweep_values(value) if v not in known]
            if unknown:
                raise UserError(f"unknown search space '{unknown[0]}'; known spaces are "
                                f"{', '.join(known)} (or +space=/path/to/space.yaml).")
        out.append(o)
    if not found and not any(o.lstrip("+").startswith("experiment=") for o in overrides):
        raise UserError(f"no search space given; add +space=NAME with NAME one of "
                        f"{', '.join(known)} (or +space=/path/to/space.yaml).")
    return _custom_scale(verb, out)


def _custom_scale(verb: str, overrides: list[str]) -> list[str]:
    """A space from a file runs at the file's default scale unless space.scale is given; name
    it, so that run folders read `<name>-<scale>-...` rather than `<name>-None-...`."""
    values = dict(o.lstrip("+").partition("=")[::2] for o in overrides if "=" in o)
    if values.get("space") != "custom" or values.get("space.scale") not in (None, "null"):
        return overrides
    from .space import load_space

    if not values.get("space.path"):
        raise UserError("+space=custom needs space.path=/path/to/space.yaml.")
    scale = load_space(values["space.path"]).scale
    return [o for o in overrides if not o.startswith("space.scale=")] + [f"space.scale={scale}"]


def _check_data_option(verb: str, overrides: list[str]) -> None:
    """An unknown `data=NAME` is one plain sentence naming the options in conf/data/, not
    Hydra's multi-line error (for the verbs whose configuration has a data group)."""
    from omegaconf import OmegaConf

    conf = OmegaConf.to_container(OmegaConf.load(CONF_DIR / f"{verb}.yaml"))
    defaults = conf.get("defaults") or []
    if not any(isinstance(d, dict) and "data" in d for d in defaults):
        return
    known = sorted(p.stem for p in (CONF_DIR / "data").glob("*.yaml"))
    for o in overrides:
        key, sep, value = o.partition("=")
        unknown = [v for v in _sweep_values(value) if v not in known]
        if sep and key.lstrip("+~") == "data" and unknown:
            raise UserError(f"unknown data option '{unknown[0]}'; use data=NAME with NAME one "
                            f"of {', '.join(known)}.")


def _sweep_values(value: str) -> list[str]:
    """The options of a group choice: several for a sweep (`-m data=synthetic,cifar10`)."""
    return [v.strip() for v in value.split(",")] if "," in value else [value]


def register_resolvers() -> None:
    """`${budget_suffix:${search}}` (conf/search.yaml): a search's strategy (when not Optuna),
    budgets and score in its default run folder name, so that a budgeted search does not
    resume an unbudgeted one, a meta-kernel search an Optuna one, nor one score's study
    another's."""
    from omegaconf import OmegaConf

    def suffix(search) -> str:
        from .score import parse_score
        from .search import active_budgets, budget_suffix

        out = "-metakernel" if search.get("strategy") == "metakernel" else ""
        # a malformed budget or an unknown score: the task refuses it with one sentence
        with contextlib.suppress(Exception):
            out += budget_suffix(active_budgets(search))
        with contextlib.suppress(Exception):
            score = search.get("score")
            out += "-" + parse_score(list(score) if OmegaConf.is_list(score) else score).key
        return out

    if not OmegaConf.has_resolver("budget_suffix"):
        OmegaConf.register_new_resolver("budget_suffix", suffix)


def _print(text: str) -> None:
    """Print help text; a reader that stops early (`| head`) is no error."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _yaml_blocks(text: str, skip: tuple[str, ...] = ("defaults", "hydra")) -> list[str]:
    """The lines of a configuration file without its top-level `skip` blocks (comments kept,
    since they explain the options)."""
    out, skipping = [], False
    for line in text.splitlines():
        top = line[:1] not in (" ", "#", "") and ":" in line
        if top:
            skipping = line.split(":")[0].strip() in skip
        if not skipping and not line.startswith("# @package"):
            out.append(line)
    while out and not out[0].strip():
        out.pop(0)
    return out


def verb_help(verb: str) -> str:
    """`mlpnas <verb> --help` from the configuration files alone (no Hydra, no torch: it
    answers at once): the verb's description, its option groups with their choices, and
    every option with its default and the comment that explains it."""
    import yaml

    raw = (CONF_DIR / f"{verb}.yaml").read_text()
    conf = yaml.safe_load(raw) or {}
    header = (((conf.get("hydra") or {}).get("help") or {}).get("header") or "").strip()
    chosen = {}
    for entry in conf.get("defaults") or []:
        if isinstance(entry, dict):
            for k, v in entry.items():
                if "hydra" not in str(k) and isinstance(v, str):
                    chosen[str(k)] = v
    groups = list(chosen) + (["space", "experiment"] if verb in NEEDS_SPACE else [])
    lines = [header or f"mlpnas {verb}", "", "== Option groups (group=option; default marked *) =="]
    for g in groups:
        options = sorted(p.stem for p in (CONF_DIR / g).glob("*.yaml"))
        marked = [f"{o}*" if chosen.get(g) == o else o for o in options]
        plus = "+" if g not in chosen else ""
        lines.append(f"{plus}{g}: {', '.join(marked)}")
    lines += ["", "== Options and their defaults =="]
    for g, option in chosen.items():
        body = _yaml_blocks((CONF_DIR / g / f"{option}.yaml").read_text())
        lines += [f"{g}:  # {g}={option}", *(f"  {b}" if b else b for b in body)]
    lines += _yaml_blocks(raw)
    lines += ["", "Options are Hydra overrides: key=value changes a value, group=option picks a "
                  "group's option,", "+group=option adds an optional group (e.g. "
                  "+space=cycle_vs_shift); `--cfg job` prints the composed configuration."]
    return "\n".join(lines)


def checked_overrides(verb: str, overrides: Iterable) -> list[str]:
    """The command line's checks of `mlpnas VERB OVERRIDES`, before Hydra composes anything:
    the verb, the search space, the data option, unknown options (with "did you mean"), and
    the positional PATH of export / plot / retrain / rank made `run_dir=...` / `path=...`.
    Returns the overrides as Hydra takes them; a problem raises UserError."""
    from ._options import unknown_option

    if verb not in VERBS:
        raise UserError(f"unknown verb '{verb}'; use one of {', '.join(VERBS)} "
                        f"(mlpnas --help).")
    if not (CONF_DIR / f"{verb}.yaml").is_file():
        raise UserError(f"configuration folder not found at {CONF_DIR}; this installation of "
                        f"mlpnas is incomplete: reinstall it with `pip install mlpnas` (or "
                        f"`pip install -e .` from its source checkout).")
    overrides = [str(o) for o in overrides]
    if verb in NEEDS_SPACE:
        overrides = _space_override(verb, overrides)
    elif any(o.partition("=")[0].lstrip("+~") == "experiment" for o in overrides):
        raise UserError(f"mlpnas {verb} takes no +experiment= (it reads the settings a run "
                        f"recorded); experiment files are for {' and '.join(NEEDS_SPACE)}.")
    _check_data_option(verb, overrides)
    problem = unknown_option(CONF_DIR, verb, overrides)
    if problem:
        raise UserError(problem)
    if verb in POSITIONAL and overrides and "=" not in overrides[0] \
            and not overrides[0].startswith("-"):
        path = Path(overrides[0]).expanduser().resolve()
        overrides = [f"{POSITIONAL[verb]}={hydra_quoted(str(path))}", *overrides[1:]]
    return overrides


def compose(verb: str, overrides: Iterable[str]):
    """conf/<verb>.yaml composed with (checked) `overrides` by Hydra's compose API, as the
    command line composes it."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    register_resolvers()
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            return hydra_compose(config_name=verb, overrides=list(overrides))
    except HydraException as e:
        first = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
        raise UserError(f"the options cannot be composed ({first}); `mlpnas {verb} --help` "
                        f"lists the option groups and their choices.") from None


def run(verb: str, overrides: Iterable = (), command: str | None = None) -> Any:
    """What `mlpnas VERB OVERRIDES` does, in this process: every check of the command line
    (`checked_overrides`), the configuration composed by Hydra's compose API, the value
    checks, then `mlpnas.tasks.<verb>.run(cfg)`; returns what the task returns. A problem
    the user can cause raises mlpnas.errors.UserError with the sentence the command line
    prints (an out_dir the refused run left empty is removed). The run folder records
    `command` (by default the equivalent command line) and the overrides."""
    return run_with_config(verb, overrides, command)[1]


def run_with_config(verb: str, overrides: Iterable = (), command: str | None = None
                    ) -> tuple[Any, Any]:
    """`run`, returning (the composed configuration, what the task returns): the Python API
    finds the run's folders in the configuration."""
    from ._record import invocation

    given = [str(o) for o in overrides]
    checked = checked_overrides(verb, given)
    cfg = compose(verb, checked)
    line = command or "mlpnas " + shlex.join([verb, *given])
    with invocation(line, checked, from_python=command is None):
        return cfg, execute(verb, cfg)


def _hydra_options(overrides: list[str]) -> bool:
    """Whether the command line asks for something only `hydra.main` does: its flags (`-m`,
    `--cfg job`, `--info`, ...) or `hydra.*` settings and groups."""
    return any(o.startswith("-") or o.partition("=")[0].lstrip("+~").split(".")[0]
               .split("/")[0] == "hydra" for o in overrides)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        _print(_usage())
        return
    if argv[0] in ("--version", "-V"):
        from . import __version__

        _print(f"mlpnas {__version__}")
        return
    verb, given = argv[0], argv[1:]
    if verb in VERBS and (CONF_DIR / f"{verb}.yaml").is_file() \
            and any(o in ("--help", "-h") for o in given):
        _print(verb_help(verb))
        return
    command = "mlpnas " + shlex.join(argv)
    if not _hydra_options(given):
        _guarded(verb if verb in VERBS else "", lambda: run(verb, given, command))
        return
    overrides = _guarded(verb if verb in VERBS else "", lambda: checked_overrides(verb, given))
    import hydra

    from ._sweep import separate_jobs, swept_keys

    register_resolvers()
    swept = swept_keys(overrides)

    def task(cfg):
        from hydra.core.hydra_config import HydraConfig

        from ._record import invocation

        job = list(HydraConfig.get().overrides.task)
        if swept:  # a multirun: each job its own folders (and studies)
            separate_jobs(verb, cfg, job, swept)
        with invocation(command, job, from_python=False):
            return _guarded(verb, lambda: execute(verb, cfg))

    sys.argv = [f"mlpnas {verb}", *overrides]
    hydra.main(config_path=str(CONF_DIR), config_name=verb, version_base="1.3")(task)()


if __name__ == "__main__":
    main()
