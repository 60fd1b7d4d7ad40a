"""`mlpnas <verb> [hydra overrides]`: picks conf/<verb>.yaml and calls tasks/<verb>.run(cfg).

Errors the user can cause print one sentence and exit with status 2; Ctrl-C exits with 130
and leaves everything written so far in place (the same command resumes).
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.resources
import sys
from pathlib import Path

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

# the configuration ships inside the package (mlpnas/conf links to the top-level conf/ in a
# source checkout; a wheel carries the files), so every install finds it
CONF_DIR = Path(str(importlib.resources.files("mlpnas") / "conf"))

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


def _run_task(verb: str):
    from .errors import UserError

    def task(cfg):
        from omegaconf import OmegaConf

        from ._options import bad_value

        problem = bad_value(OmegaConf.to_container(cfg, resolve=False))
        if problem:  # before anything is read or written
            _drop_if_empty(cfg.get("out_dir"))
            _fail(verb, problem)
        module = importlib.import_module(f"mlpnas.tasks.{verb}")  # heavy: only when it runs
        try:
            return module.run(cfg)
        except UserError as e:
            _drop_if_empty(cfg.get("out_dir"))
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

    return task


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
                _fail(verb, f"search space file '{value}' must be a YAML file ending in "
                            f".yaml; rename it.")
            if value.endswith((".yaml", ".yml")):
                path = Path(value).expanduser().resolve()
                if not path.is_file():
                    _fail(verb, f"search space file '{value}' does not exist.")
                out += ["+space=custom", f"space.path={path}", f"space.name={path.stem}"]
                continue
            if value == "custom":
                out.append(o)
                continue
            if value not in known:
                _fail(verb, f"unknown search space '{value}'; known spaces are "
                            f"{', '.join(known)} (or +space=/path/to/space.yaml).")
        out.append(o)
    if not found and not any(o.lstrip("+").startswith("experiment=") for o in overrides):
        _fail(verb, f"no search space given; add +space=NAME with NAME one of "
                    f"{', '.join(known)} (or +space=/path/to/space.yaml).")
    return _custom_scale(verb, out)


def _custom_scale(verb: str, overrides: list[str]) -> list[str]:
    """A space from a file runs at the file's default scale unless space.scale is given; name
    it, so that run folders read `<name>-<scale>-...` rather than `<name>-None-...`."""
    values = dict(o.lstrip("+").partition("=")[::2] for o in overrides if "=" in o)
    if values.get("space") != "custom" or values.get("space.scale") not in (None, "null"):
        return overrides
    from .errors import UserError
    from .space import load_space

    if not values.get("space.path"):
        _fail(verb, "+space=custom needs space.path=/path/to/space.yaml.")
    try:
        scale = load_space(values["space.path"]).scale
    except UserError as e:
        _fail(verb, str(e))
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
        if sep and key.lstrip("+~") == "data" and value not in known:
            _fail(verb, f"unknown data option '{value}'; use data=NAME with NAME one of "
                        f"{', '.join(known)}.")


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


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        _print(_usage())
        return
    verb, overrides = argv[0], argv[1:]
    if verb not in VERBS:
        _fail("", f"unknown verb '{verb}'; use one of {', '.join(VERBS)} (mlpnas --help).")
    if not (CONF_DIR / f"{verb}.yaml").is_file():
        _fail(verb, f"configuration folder not found at {CONF_DIR}; this installation of "
                    f"mlpnas is incomplete: reinstall it with `pip install mlpnas` (or "
                    f"`pip install -e .` from its source checkout).")
    if any(o in ("--help", "-h") for o in overrides):
        _print(verb_help(verb))
        return
    if verb in NEEDS_SPACE:
        overrides = _space_override(verb, overrides)
    elif any(o.partition("=")[0].lstrip("+~") == "experiment" for o in overrides):
        _fail(verb, f"mlpnas {verb} takes no +experiment= (it reads the settings a run "
                    f"recorded); experiment files are for {' and '.join(NEEDS_SPACE)}.")
    _check_data_option(verb, overrides)
    from ._options import unknown_option

    problem = unknown_option(CONF_DIR, verb, overrides)
    if problem:
        _fail(verb, problem)
    if verb in POSITIONAL and overrides and "=" not in overrides[0] \
            and not overrides[0].startswith("-"):
        path = Path(overrides[0]).expanduser().resolve()
        overrides = [f"{POSITIONAL[verb]}={hydra_quoted(str(path))}", *overrides[1:]]
    import hydra

    register_resolvers()
    sys.argv = [f"mlpnas {verb}", *overrides]
    hydra.main(config_path=str(CONF_DIR), config_name=verb, version_base="1.3")(
        _run_task(verb))()


if __name__ == "__main__":
    main()
