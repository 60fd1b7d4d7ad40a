"""Errors a user can cause. Their message is one sentence that names the problem and the fix;
the command line prints it without a traceback and exits with status 2."""

import math


class UserError(Exception):
    """A problem in the user's input (configuration, files, arguments)."""


def whole_number(value, low: int, name: str) -> int:
    """`value` if it is a whole number of at least `low` (not a bool), else the UserError
    that names the setting `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise UserError(f"{name}={value!r} is not allowed; give a whole number of at least "
                        f"{low}.")
    return value


def number_problem(key: str, value, kind: str, low: float | None,
                   high: float | None) -> str | None:
    """The sentence saying how the setting `key` breaks its rule, or None: `kind` is "int" (a
    whole number, never a bool) or "num" (any finite number); `low` and `high` are inclusive
    bounds (None: open; 1e-12 and 1e-6 read as "above 0")."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_num = is_int or (isinstance(value, float) and math.isfinite(value))  # no NaN, inf
    if kind == "int" and not is_int:
        return f"{key}={value!r} is not a whole number; give one, e.g. {key}={int(low or 0)}."
    if not is_num:
        return f"{key}={value!r} is not a finite number; give one, e.g. {key}={low or 0:g}."
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    if high is None:
        what = f"of at least {low:g}" if low not in (1e-12, 1e-6) else "above 0"
    elif low is None:
        what = f"at most {high:g}"
    else:
        what = f"from {low:g} to {high:g}" if kind == "num" else f"from {low} to {high}"
    noun = "a whole number" if kind == "int" else "a number"
    return f"{key}={value!r} is out of range; give {noun} {what}."


def check_rules(prefix: str, values, rules, nullable=()) -> None:
    """Raise the UserError of the first of `rules` ((name, kind, low, high), see
    `number_problem`) that `values` (name -> value) breaks; the setting is named
    `prefix.name`. A name in `nullable` may be None."""
    for name, kind, low, high in rules:
        value = values[name]
        if value is None and name in nullable:
            continue
        problem = number_problem(f"{prefix}.{name}", value, kind, low, high)
        if problem:
            raise UserError(problem)


def section_values(node, names, section: str, folder: str | None = None) -> dict:
    """The values of `names` in a configuration node (the `section` of the options), or the
    UserError naming the first one it lacks; `folder` is the conf/ folder whose files hold
    every one (default: the section's first part)."""
    missing = [n for n in names if n not in node]
    if missing:
        raise UserError(f"the {section} settings lack {section}.{missing[0]}; give it (the "
                        f"files in conf/{folder or section.split('.')[0]}/ hold every one).")
    return {n: node[n] for n in names}
