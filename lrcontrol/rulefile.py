r"""Rules from TOML files: describe an optimizer without writing Python.

A rule file lists the parameters (each with a domain), the states and
the update in code order; the expressions are read by the safe parser
of :mod:`lrcontrol.expressions`, so nothing in the file runs as code:

.. code-block:: toml

    name = "my-heavy-ball"
    description = "Polyak's heavy ball, from a file"

    [parameters]
    learning_rate = { default = 0.1, domain = "positive" }
    momentum = { default = 0.9, domain = "[0, 1)" }

    [state]
    x = "iterate"
    v = 0

    [update]
    v = "momentum*v - learning_rate*grad(x)"
    x = "x + v"

Tables keep the order of the file, and the update runs in that order: a
name on the right stands for the value it holds at that point of the
step (``x + v`` uses the new ``v``).  Expressions may read parameters,
states, the step index ``k`` and temporaries, and call ``grad(point)``
and the functions in :data:`lrcontrol.expressions.FUNCTIONS`.

Optional top-level keys: ``description``, ``learning_rate`` (the name of
the parameter that plays the learning rate), ``conventions`` and
``references`` (a string or a list of strings).  A parameter is a table
with ``domain`` (required), ``default``, ``latex`` and ``description``;
a state is ``"iterate"``, a number, or a table with ``initial`` and
``latex``.  Intermediate values are declared in a ``[temporaries]``
table (name = description) and then assigned in ``[update]`` like
states; they are inlined and never become states:

.. code-block:: toml

    [temporaries]
    g = "gradient plus weight decay"

    [update]
    g = "grad(x) + weight_decay*x"
    buf = "momentum*buf + g"
    x = "x - lr*buf"

Every problem is reported as a :class:`RuleFileError` naming the file,
the line and the item, e.g.
``my_rule.toml:12: [update] v: unknown name 'momentun' ... at column 1.``
"""

from __future__ import annotations

import os
import re
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path

import sympy

from ._symbols import RESERVED_NAMES
from ._symbols import k as _k
from .expressions import (
    FUNCTIONS,
    Expression,
    ExpressionError,
    parse_expression,
    to_sympy,
)
from .rules import Parameter, Rule, State

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "MAX_FILE_BYTES",
    "NonlinearRuleError",
    "RuleFileError",
    "RuleSource",
    "UpdateItem",
    "explain_nonlinear",
    "load_rule",
    "rule_file_loader",
    "rule_from_text",
    "rule_source",
]

#: Largest rule file read, in bytes.
MAX_FILE_BYTES = 1 << 20

#: Most items in the update table.
_MAX_ITEMS = 200

_TOP_KEYS = (
    "name", "description", "learning_rate", "conventions", "references",
    "parameters", "state", "temporaries", "update",
)
_PARAMETER_KEYS = ("default", "domain", "latex", "description")
_STATE_KEYS = ("initial", "latex")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_INTERVAL = re.compile(r"^\s*[\[(]\s*([^,\s]+)\s*,\s*([^,\s]+)\s*[\])]\s*$")
_INFINITY = {"inf", "+inf", "-inf"}
_LATEX_CHARACTERS = re.compile(r"^[A-Za-z0-9_^{}\\ ,.'+\-]*$")
_LATEX_WORDS = frozenset((
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta",
    "eta", "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi",
    "pi", "varpi", "rho", "varrho", "sigma", "varsigma", "tau", "upsilon",
    "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta",
    "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
    "mathrm", "mathbf", "mathit", "mathsf", "hat", "bar", "tilde", "dot",
    "ddot", "vec", "prime", "ell", "infty",
))
_MAX_NAME = 100

# rules loaded from files, with where each item came from
_SOURCES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class RuleFileError(ValueError):
    """A problem in a rule file, naming the file, line and item.

    Attributes
    ----------
    source : str
        The file (as given) or ``"<text>"``.
    line : int or None
        Line of the item, counted from 1, when it can be found.
    item : str
        The item, e.g. ``"[update] v"``.
    reason : str
        What is wrong.
    """

    def __init__(self, source, line, item, reason):
        self.source, self.line = source, line
        self.item, self.reason = item or "", str(reason).rstrip(".")
        super().__init__(_message(source, line, item, reason))


class NonlinearRuleError(NotImplementedError):
    """A linear analysis asked of a file rule whose loop is not linear.

    Has the attributes of :class:`RuleFileError`.
    """

    def __init__(self, source, line, item, reason):
        self.source, self.line = source, line
        self.item, self.reason = item or "", str(reason).rstrip(".")
        super().__init__(_message(source, line, item, reason))


def _message(source, line, item, reason):
    where = f"{source}:{line}" if line else str(source)
    reason = str(reason)
    end = "" if reason.endswith(".") else "."
    return f"{where}: {item}: {reason}{end}" if item else (
        f"{where}: {reason}{end}"
    )


@dataclass(frozen=True)
class UpdateItem:
    """One assignment of the update, with where it came from.

    Attributes
    ----------
    target : str
        The state or temporary assigned.
    expression : Expression
        The parsed right side.
    line : int or None
        Its line in the file.
    temporary : bool
        Whether `target` is a temporary rather than a state.
    """

    target: str
    expression: Expression
    line: int | None
    temporary: bool


@dataclass(frozen=True)
class RuleSource:
    """Where a rule loaded from a file came from.

    Attributes
    ----------
    source : str
        The file as given, or ``"<text>"``.
    items : tuple of UpdateItem
        The update, in code order.
    update_line : int or None
        Line of the ``[update]`` table header.
    """

    source: str
    items: tuple
    update_line: int | None


class _Lines:
    """Lines of tables and keys, found by scanning the TOML text.

    ``tomllib`` gives no positions, so each item is looked up by its key
    within its table.  Multi-line strings are skipped; a key not found
    falls back to the line of its table header.
    """

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(
        r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]"""
    )

    def __init__(self, text):
        self.headers, self.keys, self.duplicates = {}, {}, []
        table, quote = (), None
        for number, line in enumerate(text.splitlines(), start=1):
            if quote is not None:
                quote = None if line.count(quote) % 2 else quote
                continue
            table = self._scan(line, number, table)
            for mark in ('"""', "'''"):
                if line.count(mark) % 2:
                    quote = mark
                    break

    def _scan(self, line, number, table):
        if line.lstrip().startswith("[["):
            return ("[[",)
        header = self._HEADER.match(line)
        if header:
            table = tuple(
                p.strip().strip("\"'") for p in header.group(1).split(".")
            )
            self.headers.setdefault(table, number)
            if len(table) == 2:
                self._add(table[:1], table[1], number)
            return table
        key = self._KEY.match(line)
        if key:
            self._add(table, key.group(1).strip("\"'"), number)
        return table

    def _add(self, table, key, number):
        if (table, key) in self.keys:
            self.duplicates.append((table, key, number))
        else:
            self.keys[(table, key)] = number

    def of(self, table, key=None):
        """Line of `key` in `table` (``""`` for the top level)."""
        where = (table,) if table else ()
        if key is None:
            return self.headers.get(where)
        return self.keys.get((where, key), self.headers.get(where))


class _Reader:
    """Builds a Rule from parsed TOML, reporting errors with lines."""

    def __init__(self, data, text, source, stem):
        self.data, self.source, self.stem = data, source, stem
        self.lines = _Lines(text)

    def fail(self, table, key, reason):
        label = f"[{table}] {key}" if table and key else (
            f"[{table}]" if table else key or ""
        )
        raise RuleFileError(
            self.source, self.lines.of(table, key), label, reason
        )

    def table(self, key, required):
        value = self.data.get(key)
        if value is None:
            if required:
                self.fail(None, None, f"the rule needs a [{key}] table")
            return {}
        if not isinstance(value, dict):
            self.fail("", key, f"must be a table, got {_kind(value)}")
        return value

    def text(self, key, default=""):
        value = self.data.get(key, default)
        if not isinstance(value, str):
            self.fail("", key, f"must be a string, got {_kind(value)}")
        self.check_text("", key, value)
        return value

    def build(self) -> Rule:
        unknown = [key for key in self.data if key not in _TOP_KEYS]
        if unknown:
            self.fail("", unknown[0], "unknown key or table; expected one "
                      f"of {', '.join(_TOP_KEYS)}")
        parameters = self.parameters()
        states = self.states(parameters)
        temporaries = self.temporaries(parameters, states)
        items = self.update(parameters, states, temporaries)
        rule = self.rule(parameters, states, items)
        _SOURCES[rule] = RuleSource(
            self.source, items, self.lines.of("update")
        )
        return rule

    # -- the tables -------------------------------------------------------

    def parameters(self):
        out = []
        for name, spec in self.table("parameters", False).items():
            self.check_name("parameters", name)
            if not isinstance(spec, dict):
                self.fail("parameters", name, "a parameter needs a domain; "
                          f"write {name} = {{ default = ..., domain = "
                          f"\"positive\" }}, got {_kind(spec)}")
            self.check_keys("parameters", name, spec, _PARAMETER_KEYS)
            if "domain" not in spec:
                self.fail("parameters", name, "a parameter needs a domain, "
                          "e.g. domain = \"positive\" or \"[0, 1)\"")
            default = spec.get("default")
            if default is not None and not _is_number(default, True):
                self.fail("parameters", name, "`default` must be a number, "
                          f"got {_kind(default)}")
            self.check_domain(name, spec["domain"])
            self.check_latex("parameters", name, spec.get("latex"))
            self.check_text("parameters", name, spec.get("description", ""))
            try:
                out.append(Parameter(
                    name, default, spec["domain"], spec.get("latex"),
                    spec.get("description", ""),
                ))
            except (TypeError, ValueError) as err:
                self.fail("parameters", name, err)
        return out

    def states(self, parameters):
        taken = {q.name for q in parameters}
        out = []
        for name, spec in self.table("state", True).items():
            self.check_name("state", name)
            if name in taken:
                self.fail("state", name, "a state must not share its name "
                          "with a parameter")
            latex = None
            if isinstance(spec, dict):
                self.check_keys("state", name, spec, _STATE_KEYS)
                spec, latex = spec.get("initial", 0), spec.get("latex")
                self.check_latex("state", name, latex)
            if spec != "iterate" and not _is_number(spec):
                self.fail("state", name, "a state is \"iterate\" or an "
                          f"initial number, got {_kind(spec)}")
            try:
                out.append(State(name, spec, latex))
            except (TypeError, ValueError) as err:
                self.fail("state", name, err)
        if not out:
            self.fail("state", None, "the rule needs at least one state")
        iterates = [s.name for s in out if s.is_iterate]
        if not iterates:
            self.fail("state", None, "one state must be the iterate, "
                      "declared as x = \"iterate\"")
        if len(iterates) > 1:
            # TODO: games (one iterate per player) need grad(...) to return
            # one gradient per player, which expressions cannot hold yet.
            self.fail("state", iterates[1], "rule files have one iterate "
                      "(one player); games are not supported yet; a state "
                      "that holds an earlier iterate starts at 0, e.g. "
                      f"{iterates[1]} = 0")
        return out

    def temporaries(self, parameters, states):
        taken = {q.name for q in parameters} | {s.name for s in states}
        names = []
        for name, note in self.table("temporaries", False).items():
            self.check_name("temporaries", name)
            if name in taken:
                self.fail("temporaries", name, "a temporary must not share "
                          "its name with a parameter or state")
            if not isinstance(note, str):
                self.fail("temporaries", name, "a temporary is declared "
                          f"with a description string, got {_kind(note)}")
            self.check_text("temporaries", name, note)
            names.append(name)
        return names

    def update(self, parameters, states, temporaries):
        table = self.table("update", True)
        if not table:
            self.fail("update", None, "the update assigns nothing")
        if len(table) > _MAX_ITEMS:
            self.fail("update", None, f"the update has {len(table)} items; "
                      f"the limit is {_MAX_ITEMS}")
        state_names = [s.name for s in states]
        names = {q.name for q in parameters} | set(state_names) | {"k"}
        names |= set(temporaries)
        players = sum(s.is_iterate for s in states)
        items, pending = [], set(temporaries)
        for target, text in table.items():
            items.append(self.item(
                target, text, names, pending, state_names, temporaries,
                players,
            ))
            pending.discard(target)
        if pending:
            self.fail("temporaries", min(pending),
                      "this temporary is never assigned in [update]")
        if not any(item.expression.grad_calls for item in items):
            self.fail("update", None, "the update never queries the "
                      "gradient; call grad(...) in at least one expression")
        return tuple(items)

    def item(self, target, text, names, pending, states, temporaries,
             players):
        if target not in states and target not in temporaries:
            self.fail("update", target, f"assigns {target!r}, which is not "
                      f"a declared state (states: {', '.join(states)}; "
                      f"temporaries: {', '.join(temporaries) or 'none'})")
        if not isinstance(text, str):
            self.fail("update", target, "the right side must be a string "
                      f"holding an expression, got {_kind(text)}")
        try:
            expression = parse_expression(text, names, True, players)
        except ExpressionError as err:
            self.fail("update", target, err)
        early = sorted(expression.names & pending)
        if early:
            self.fail("update", target, f"temporary {early[0]!r} is read "
                      "before it is assigned")
        return UpdateItem(
            target, expression, self.lines.of("update", target),
            target in temporaries,
        )

    def rule(self, parameters, states, items):
        name = self.text("name", self.stem)
        if not name.strip():
            self.fail("", "name", "the rule needs a name")
        if "\n" in name or len(name) > _MAX_NAME:
            self.fail("", "name", f"a name is one line of at most "
                      f"{_MAX_NAME} characters")
        references = self.data.get("references", [])
        if isinstance(references, str):
            references = [references]
        if not isinstance(references, list) or not all(
            isinstance(r, str) for r in references
        ):
            self.fail("", "references", "must be a string or a list of "
                      f"strings, got {_kind(references)}")
        for reference in references:
            self.check_text("", "references", reference)
        learning_rate = self.data.get("learning_rate")
        known = [q.name for q in parameters]
        if learning_rate is not None and learning_rate not in known:
            self.fail("", "learning_rate", "must name a parameter ("
                      f"{', '.join(known) or 'none declared'}), got "
                      f"{_kind(learning_rate)}")
        try:
            return Rule(
                name, parameters, states,
                _make_update(items, parameters, self.source),
                self.text("description"), learning_rate,
                self.text("conventions"), references,
            )
        except RuleFileError:
            raise
        except (TypeError, ValueError) as err:
            self.fail(None, None, err)

    # -- checks -----------------------------------------------------------

    def check_name(self, table, name):
        if not _IDENTIFIER.match(name):
            self.fail(table, name, "a name must be a letter followed by "
                      "letters, digits or underscores")
        if name in RESERVED_NAMES or name.startswith("grad") or (
            name in FUNCTIONS
        ):
            self.fail(table, name, f"the name {name!r} is reserved; pick "
                      "another")

    def check_domain(self, name, domain):
        # bounds in range before rules.Domain reads them (1e999999999
        # would not finish there)
        match = _INTERVAL.match(domain) if isinstance(domain, str) else None
        for bound in match.groups() if match else ():
            if bound.lower() in _INFINITY:
                continue
            try:
                to_sympy(bound, {})
            except ExpressionError:
                self.fail("parameters", name, f"domain bound {bound!r} "
                          "must be inf, -inf or a number between -1e308 "
                          "and 1e308")

    def check_latex(self, table, name, latex):
        # LaTeX goes into reports verbatim: letters, sub- and superscripts
        # and a short list of commands, nothing that reads files or runs
        if latex is None:
            return
        if not isinstance(latex, str):
            self.fail(table, name, f"`latex` must be a string, got "
                      f"{_kind(latex)}")
        words = re.findall(r"\\([A-Za-z]*)", latex)
        bad = [w for w in words if w not in _LATEX_WORDS]
        if not _LATEX_CHARACTERS.match(latex) or bad or len(latex) > 100:
            shown = f"\\{bad[0]}" if bad else latex[:40]
            self.fail(table, name, f"`latex` may hold letters, digits, _ ^ "
                      "{ } and Greek letters or accents such as \\eta or "
                      f"\\hat, got {shown!r}")

    def check_text(self, table, key, text):
        if not isinstance(text, str):
            self.fail(table, key, f"must be a string, got {_kind(text)}")
        bad = [c for c in text if ord(c) < 32 and c not in "\n\t"
               or 127 <= ord(c) < 160]
        if bad:
            self.fail(table, key, f"contains the control character "
                      f"U+{ord(bad[0]):04X}")

    def check_keys(self, table, name, spec, allowed):
        unknown = sorted(set(spec) - set(allowed))
        if unknown:
            self.fail(table, name, f"unknown key {unknown[0]!r}; expected "
                      f"{', '.join(allowed)}")


def _kind(value) -> str:
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value) if len(repr(value)) < 40 else type(value).__name__


def _is_number(value, flags: bool = False) -> bool:
    if isinstance(value, bool):
        return flags
    return isinstance(value, (int, float))


def _make_update(items, parameters, source="<text>"):
    """``update(s, p, grad[, k])`` running `items` in order.

    Names are read when each item runs: temporaries from the step's own
    values, parameters from `p`, states from `s` (so the same function
    records the program with symbols and steps a simulation with
    numbers), ``k`` from the step index.
    """
    parameters = {q.name for q in parameters}
    uses_k = any("k" in item.expression.names for item in items)

    def run(s, p, grad, k):
        local = {"k": k}
        for item in items:
            values = {
                n: local[n] if n in local
                else getattr(p if n in parameters else s, n)
                for n in item.expression.names
            }
            try:
                value = item.expression.evaluate(values, grad)
            except ExpressionError as err:
                # name the assignment: the rule is recorded after parsing
                raise RuleFileError(source, item.line,
                                    f"[update] {item.target}", err) from None
            if item.temporary:
                local[item.target] = value
            else:
                setattr(s, item.target, value)

    if uses_k:
        def update(s, p, grad, k):
            run(s, p, grad, k)
    else:
        def update(s, p, grad):
            run(s, p, grad, _k)
    return update


def rule_from_text(
    text: str, source: str = "<text>", linear: bool = False
) -> Rule:
    """The rule described by the TOML `text`.

    Parameters
    ----------
    text : str
        The content of a rule file.
    source : str
        Name used in error messages (and for the rule's name when the
        text has none: the file name without its extension).
    linear : bool
        Also check that the closed loop is linear, so that linear
        analyses apply; see :func:`load_rule`.

    Returns
    -------
    Rule

    Raises
    ------
    RuleFileError
        For any problem, naming `source`, the line and the item.

    Examples
    --------
    >>> rule = rule_from_text('''
    ... name = "my-gd"
    ... [parameters]
    ... learning_rate = { default = 0.1, domain = "positive" }
    ... [state]
    ... x = "iterate"
    ... [update]
    ... x = "x - learning_rate*grad(x)"
    ... ''')
    >>> rule.program[1]
    Assign(target=x_new, value=-grad_1*learning_rate + x, state='x')
    >>> rule_from_text('''
    ... [state]
    ... x = "iterate"
    ... [update]
    ... x = "x - eta*grad(x)"
    ... ''', "gd.toml")
    Traceback (most recent call last):
        ...
    lrcontrol.rulefile.RuleFileError: gd.toml:5: [update] x: unknown \
name 'eta' (declared: k, x) at column 5.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a string, got {type(text).__name__}.")
    text = text.removeprefix("\ufeff")  # a byte-order mark, as editors save
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise _toml_error(err, text, source) from None
    stem = Path(source).stem if not source.startswith("<") else ""
    rule = _Reader(data, text, source, stem).build()
    if linear:
        problem = _first_nonlinear(rule)
        if problem is not None:
            line, item, reason = problem
            raise RuleFileError(source, line, item, reason)
    return rule


def _toml_error(err, text, source):
    message = str(err)
    match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if match:
        reason = message[: match.start()] + f" at column {match.group(2)}"
        return RuleFileError(
            source, int(match.group(1)), "invalid TOML", reason
        )
    duplicates = _Lines(text).duplicates
    if duplicates:
        table, key, line = duplicates[0]
        where = f"[{'.'.join(table)}] " if table else ""
        return RuleFileError(
            source, line, "invalid TOML", f"{where}{key} is given twice"
        )
    return RuleFileError(source, None, "invalid TOML", message)


def load_rule(path: str | os.PathLike, linear: bool = False) -> Rule:
    """Read a rule from a TOML file.

    Parameters
    ----------
    path : str or os.PathLike
        The file; see the module documentation for its format.
    linear : bool
        Also check that the closed loop is linear (every assignment and
        gradient query linear in the states and gradients, without a
        constant term), naming the first offending line.  Without it
        the check happens when an analysis asks for a closed loop; see
        :func:`explain_nonlinear`.

    Returns
    -------
    Rule

    Raises
    ------
    RuleFileError
        If the file cannot be read or describes no valid rule; the
        message names the file, the line and the item.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder) / "gd.toml"
    ...     _ = path.write_text(
    ...         '[parameters]\\n'
    ...         'learning_rate = { default = 0.1, domain = "positive" }\\n'
    ...         '[state]\\nx = "iterate"\\n'
    ...         '[update]\\nx = "x - learning_rate*grad(x)"\\n')
    ...     rule = load_rule(path)
    >>> rule.name
    'gd'
    """
    source = os.fspath(path)
    try:
        size = os.stat(source).st_size
        if size > MAX_FILE_BYTES:
            raise RuleFileError(
                source, None, "", f"the rule file has {size} bytes; the "
                f"limit is {MAX_FILE_BYTES}"
            )
        raw = Path(source).read_bytes()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise RuleFileError(
            source, None, "", f"cannot read the rule file ({reason})"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RuleFileError(
            source, line, "", "the rule file is not valid UTF-8"
        ) from None
    return rule_from_text(text, source, linear)


def rule_source(rule: Rule) -> RuleSource | None:
    """Where `rule` was read from, or None for a rule not from a file.

    Examples
    --------
    >>> from lrcontrol import get_rule
    >>> rule_source(get_rule("heavy-ball")) is None
    True
    """
    return _SOURCES.get(rule)


def explain_nonlinear(rule: Rule, err: BaseException) -> BaseException:
    """`err`, restated with the file and line of a file rule.

    Call it where a linear analysis raises ``NotImplementedError`` for a
    rule that is not linear::

        try:
            loop = closed_loop(rule, ...)
        except NotImplementedError as err:
            raise explain_nonlinear(rule, err) from err

    Returns
    -------
    BaseException
        A :class:`NonlinearRuleError` naming the file, the line of the
        first assignment that is not linear in the states and gradients
        (or has a constant term) and the item; `err` itself for a rule
        not loaded from a file.

    Examples
    --------
    >>> rule = rule_from_text('''
    ... [parameters]
    ... learning_rate = { default = 0.1, domain = "positive" }
    ... [state]
    ... x = "iterate"
    ... [update]
    ... x = "x - learning_rate*grad(x)*abs(x)"
    ... ''', "sq.toml")
    >>> err = NotImplementedError("rule 'sq' is not linear in ['x'].")
    >>> print(explain_nonlinear(rule, err))  # doctest: +ELLIPSIS
    sq.toml:7: [update] x: the closed loop is not linear here (...
    """
    origin = rule_source(rule)
    if origin is None or not isinstance(err, NotImplementedError):
        return err
    problem = _first_nonlinear(rule)
    if problem is None:
        return NonlinearRuleError(origin.source, None, "", str(err))
    line, item, reason = problem
    return NonlinearRuleError(origin.source, line, item, reason)


def _first_nonlinear(rule):
    r"""The first assignment or query that makes the loop nonlinear.

    Replays the update with the step-start states and fresh gradient
    symbols as variables; the closed loop is linear when every state
    assignment and every query point is a linear form in them (linear
    maps composed stay linear).  Returns ``(line, item, reason)`` or
    None.
    """
    origin = rule_source(rule)
    variables = {s.symbol for s in rule.states}
    current = {s.name: s.symbol for s in rule.states}
    current.update(rule.symbols())
    current["k"] = _k
    state = {"problem": None, "queries": 0}

    def oracle(point):
        if state["problem"] is None:
            state["problem"] = _nonlinearity(point, variables, "query point")
        state["queries"] += 1
        g = sympy.Symbol(f"grad_{state['queries']}", real=True)
        variables.add(g)
        return g

    for item in origin.items:
        values = {n: current[n] for n in item.expression.names}
        value = item.expression.evaluate(values, oracle, numeric=False)
        if state["problem"] is None and not item.temporary:
            state["problem"] = _nonlinearity(value, variables, "value")
        if state["problem"] is not None:
            return item.line, f"[update] {item.target}", state["problem"]
        current[item.target] = value
    return None


def _nonlinearity(expr, variables, what):
    expr = sympy.sympify(expr)
    for v in expr.free_symbols & variables:
        if sympy.diff(expr, v).free_symbols & variables:
            return (
                f"the closed loop is not linear here (the {what} "
                f"{_short(expr)} is not linear in the states and "
                "gradients); linear analyses need a linear rule"
            )
    constant = sympy.simplify(expr.xreplace({v: 0 for v in variables}))
    if constant != 0:
        return (
            f"the {what} {_short(expr)} has the constant term "
            f"{_short(constant)}, so the optimum is not an equilibrium"
        )
    return None


def _short(expr):
    text = str(expr)
    return text if len(text) <= 60 else text[:57] + "..."


def rule_file_loader(args) -> Rule | None:
    """The command line hook: the rule of ``--rule-file``, if given.

    Examples
    --------
    >>> import argparse
    >>> rule_file_loader(argparse.Namespace(rule_file=None)) is None
    True
    """
    path = getattr(args, "rule_file", None)
    return None if path is None else load_rule(path)

