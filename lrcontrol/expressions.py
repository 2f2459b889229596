r"""A safe parser for the math expressions of rule files.

Users describe an optimizer in a text file, and nothing they type may run
as code.  This module reads an expression such as

.. code-block:: text

    momentum*v - learning_rate*grad(x + momentum*v)

with its own tokenizer and recursive-descent parser and builds SymPy
objects directly; neither Python's ``eval`` nor SymPy's string parsing
(which evaluates Python) ever sees the text.

The language:

- numbers: ``2``, ``0.1``, ``.5``, ``1e-3``, read exactly (``0.1`` is
  1/10), with magnitudes from about 1e-308 to 1e308;
- names declared by the caller (parameters, states, temporaries, the
  step index ``k``);
- ``+ - * /``, powers ``^`` or ``**`` (right-associative, binding tighter
  than a leading minus: ``-x^2`` is ``-(x^2)``), parentheses;
- the functions in :data:`FUNCTIONS` (``sqrt exp log abs sign min max``)
  and, where the caller allows it, the gradient oracle ``grad(...)``.

Everything else is rejected with an :class:`ExpressionError` that names
the column and the reason: other characters (quotes, brackets, ``.``
after a name, ``=``, ``;``, ``@``, backslashes, non-ASCII look-alikes,
control characters), names starting with an underscore, unknown names
and functions, text longer than :data:`MAX_LENGTH` characters or nested
deeper than :data:`MAX_DEPTH` levels (checked before recursing), numbers
out of range, and powers whose exact value would be too large to hold.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expression",
    "ExpressionError",
    "parse_expression",
    "to_sympy",
]

#: Longest expression accepted, in characters.
MAX_LENGTH = 1000

#: Deepest nesting accepted (parentheses, calls, signs and powers).
MAX_DEPTH = 32

#: Longest number or name, in characters.
_MAX_TOKEN = 100

#: Largest decimal exponent of a number literal, in absolute value.
_MAX_DECIMAL_EXPONENT = 308

#: Largest exact power of two numbers, in bits of numerator + denominator.
_MAX_POWER_BITS = 4096

#: Largest integer exponent of a symbolic base, in absolute value.
_MAX_SYMBOLIC_EXPONENT = 100

#: The step index: the only name an exponent may contain.
_STEP_INDEX = "k"


def _reduce(function):
    return lambda *args: functools.reduce(function, args)


#: Functions an expression may call: name -> (fewest arguments, most
#: arguments, SymPy function, NumPy function).
FUNCTIONS = {
    "sqrt": (1, 1, sympy.sqrt, np.sqrt),
    "exp": (1, 1, sympy.exp, np.exp),
    "log": (1, 1, sympy.log, np.log),
    "abs": (1, 1, sympy.Abs, np.abs),
    "sign": (1, 1, sympy.sign, np.sign),
    "min": (2, 8, sympy.Min, _reduce(np.minimum)),
    "max": (2, 8, sympy.Max, _reduce(np.maximum)),
}

_NUMBER = re.compile(r"(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPACE = " \t\r\n"
_OPERATORS = {"+", "-", "*", "/", "^", "(", ")", ","}
_BAD = {
    "=": "assignments belong in the [update] table, not in an expression",
    ".": "attribute access is not supported",
    "[": "subscripts and lists are not supported",
    "{": "sets and dicts are not supported",
    ";": "one expression per item",
    "'": "strings are not supported",
    '"': "strings are not supported",
    "\\": "backslashes are not supported",
    ":": "slices and lambdas are not supported",
    "#": "comments are not supported inside an expression",
}


class ExpressionError(ValueError):
    """An expression that the safe parser rejects.

    Attributes
    ----------
    text : str
        The expression (cut to 80 characters).
    position : int
        Offset of the offending character, counted from 0.
    column : int
        ``position + 1``, for messages.
    reason : str
        What is wrong, without the position.
    """

    def __init__(self, text, position, reason):
        self.text = text[:80] if isinstance(text, str) else text
        self.position = position
        self.column = position + 1
        self.reason = reason
        super().__init__(f"{reason} at column {self.column}.")


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    position: int
    value: Any = None


def _tokenize(text: str) -> list[_Token]:
    tokens, depth, i = [], 0, 0
    while i < len(text):
        char = text[i]
        if char in _SPACE:
            i += 1
        elif char.isascii() and char.isdigit() or (
            char == "." and text[i + 1 : i + 2].isdigit()
        ):
            token = _number(text, i)
            tokens.append(token)
            i += len(token.text)
        elif char.isascii() and (char.isalpha() or char == "_"):
            match = _NAME.match(text, i)
            tokens.append(_name(text, i, match.group()))
            i = match.end()
        elif text.startswith("**", i):
            tokens.append(_Token("op", "^", i))
            i += 2
        elif char in _OPERATORS:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    text, i, f"parentheses nested deeper than {MAX_DEPTH} "
                    "levels"
                )
            tokens.append(_Token("op", char, i))
            i += 1
        else:
            raise ExpressionError(text, i, _bad_character(char))
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _bad_character(char: str) -> str:
    if char in _BAD:
        return f"character {char!r} is not allowed ({_BAD[char]})"
    if char.isascii() and char.isprintable():
        return f"character {char!r} is not allowed"
    name = unicodedata.name(char, "a control character")
    return (
        f"character U+{ord(char):04X} ({name}) is not allowed; expressions "
        "use plain ASCII"
    )


def _number(text: str, start: int) -> _Token:
    """A number literal, read exactly as the decimal it is."""
    match = _NUMBER.match(text, start)
    literal, end = match.group(), match.end()
    if end < len(text) and text[end].isascii() and (
        text[end].isalnum() or text[end] in "._"
    ):
        tail = re.match(r"[A-Za-z0-9_.]*", text[end:]).group()
        hint = " (write 2*x for a product)" if tail[0].isalpha() else ""
        raise ExpressionError(
            text, start, f"malformed number {literal + tail!r}{hint}"
        )
    if len(literal) > _MAX_TOKEN:
        raise ExpressionError(
            text, start, f"number longer than {_MAX_TOKEN} characters"
        )
    mantissa, _, exponent = literal.lower().partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = int(whole + fraction or "0")
    shift = int(exponent or "0") - len(fraction)
    order = len(str(digits)) - 1 + shift if digits else 0
    if abs(order) > _MAX_DECIMAL_EXPONENT:
        raise ExpressionError(
            text, start, f"number {literal!r} is out of range (magnitudes "
            "must lie between 1e-308 and 1e308)"
        )
    value = (
        sympy.Integer(digits * 10**shift)
        if shift >= 0
        else sympy.Rational(digits, 10**-shift)
    )
    return _Token("number", literal, start, value)


def _name(text: str, start: int, name: str) -> _Token:
    if name.startswith("_"):
        raise ExpressionError(
            text, start, f"name {name!r} is not allowed (names may not "
            "start with an underscore)"
        )
    if len(name) > _MAX_TOKEN:
        raise ExpressionError(
            text, start, f"name longer than {_MAX_TOKEN} characters"
        )
    return _Token("name", name, start)


# -- parser -----------------------------------------------------------------
#
# expression := term (("+" | "-") term)*
# term       := unary (("*" | "/") unary)*
# unary      := ("+" | "-") unary | power
# power      := atom ("^" unary)?
# atom       := number | name | name "(" arguments ")" | "(" expression ")"
#
# Nodes are tuples (kind, position, ...); sums and products are n-ary, so
# the depth of the tree is bounded by the nesting depth of the text.


class _Parser:
    def __init__(self, text, tokens, names, functions, allow_grad, players):
        self.text = text
        self.players = players
        self.tokens = tokens
        self.names = names
        self.functions = functions
        self.allow_grad = allow_grad
        self.i = 0
        self.depth = 0
        self.used = set()
        self.grad_calls = 0
        self.in_exponent = False

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, token, reason):
        raise ExpressionError(self.text, token.position, reason)

    def expect(self, text):
        if self.token.text != text or self.token.kind != "op":
            self.fail(
                self.token, f"expected {text!r}, got {_show(self.token)}"
            )
        self.i += 1

    def descend(self):
        # checked before every recursive step, far below Python's limit
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(
                self.token,
                f"expression nested deeper than {MAX_DEPTH} levels",
            )

    def parse(self):
        if self.token.kind == "end":
            self.fail(self.token, "empty expression")
        node = self.expression()
        if self.token.kind != "end":
            self.fail(
                self.token,
                f"expected an operator or the end, got {_show(self.token)}",
            )
        return node

    def expression(self):
        position = self.token.position
        terms = [("+", self.term())]
        while self.token.text in ("+", "-") and self.token.kind == "op":
            sign = self.token.text
            self.i += 1
            terms.append((sign, self.term()))
        return terms[0][1] if len(terms) == 1 else ("sum", position, terms)

    def term(self):
        position = self.token.position
        factors = [("*", self.unary())]
        while self.token.text in ("*", "/") and self.token.kind == "op":
            op = self.token
            self.i += 1
            factors.append((op.text, self.unary(), op.position))
        if len(factors) == 1:
            return factors[0][1]
        return ("product", position, factors)

    def unary(self):
        token = self.token
        if token.kind == "op" and token.text in ("+", "-"):
            self.descend()
            self.i += 1
            operand = self.unary()
            self.depth -= 1
            return operand if token.text == "+" else (
                "neg", token.position, operand
            )
        return self.power()

    def power(self):
        base = self.atom()
        if self.token.kind == "op" and self.token.text == "^":
            op = self.token
            self.i += 1
            self.descend()
            outer, self.in_exponent = self.in_exponent, True
            exponent = self.unary()
            self.in_exponent = outer
            self.depth -= 1
            return ("pow", op.position, base, exponent)
        return base

    def atom(self):
        token = self.token
        if token.kind == "number":
            self.i += 1
            return ("number", token.position, token.value)
        if token.kind == "name":
            self.i += 1
            if self.token.kind == "op" and self.token.text == "(":
                return self.call(token)
            return self.name(token)
        if token.kind == "op" and token.text == "(":
            self.descend()
            self.i += 1
            node = self.expression()
            self.expect(")")
            self.depth -= 1
            return node
        self.fail(token, f"expected a number, a name or '(', got "
                  f"{_show(token)}")

    def name(self, token):
        if token.text in self.functions or token.text == "grad":
            self.fail(token, f"function {token.text!r} must be called, as "
                      f"in {token.text}(...)")
        if token.text not in self.names:
            declared = ", ".join(sorted(self.names)) or "none"
            self.fail(token, f"unknown name {token.text!r} (declared: "
                      f"{declared})")
        if self.in_exponent and token.text != _STEP_INDEX:
            self.fail(token, f"exponents may contain only numbers and the "
                      f"step index {_STEP_INDEX}, got {token.text!r}")
        self.used.add(token.text)
        return ("name", token.position, token.text)

    def call(self, token):
        name = token.text
        if name == "grad" and not self.allow_grad:
            self.fail(token, "grad(...) is not allowed here")
        if name != "grad" and name not in self.functions:
            known = ", ".join(sorted(self.functions))
            self.fail(token, f"unknown function {name!r} (known: {known})")
        if self.in_exponent:
            self.fail(token, f"exponents may contain only numbers and the "
                      f"step index {_STEP_INDEX}, got a call of {name!r}")
        self.descend()
        self.i += 1
        arguments = [] if self.token.text == ")" else [self.expression()]
        while self.token.kind == "op" and self.token.text == ",":
            self.i += 1
            arguments.append(self.expression())
        self.expect(")")
        self.depth -= 1
        if name == "grad":
            if len(arguments) != self.players:
                self.fail(token, f"grad() takes one point per player "
                          f"({self.players}), got {len(arguments)}")
            self.grad_calls += 1
            return ("grad", token.position, arguments)
        low, high = self.functions[name][:2]
        if not low <= len(arguments) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            self.fail(token, f"{name}() takes {wanted} argument"
                      f"{'s' if high > 1 else ''}, got {len(arguments)}")
        return ("call", token.position, name, arguments)


def _show(token: _Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    return f"{token.kind} {token.text!r}" if token.kind != "op" else (
        repr(token.text)
    )


@dataclass(frozen=True)
class Expression:
    """A parsed expression, ready to be evaluated on any values.

    Attributes
    ----------
    text : str
        The source text.
    names : frozenset of str
        The declared names it reads.
    grad_calls : int
        How many times it calls ``grad(...)``.
    tree : tuple
        The syntax tree (internal).
    """

    text: str
    names: frozenset
    grad_calls: int
    tree: tuple = field(repr=False, compare=False)

    def evaluate(
        self,
        values: Mapping[str, Any],
        grad: Callable | None = None,
        numeric: bool | None = None,
    ):
        """The value of the expression, names replaced by `values`.

        Parameters
        ----------
        values : mapping
            A value for each name the expression reads: SymPy objects
            (the result is a SymPy expression) or numbers and arrays (the
            result is numeric, computed with NumPy's functions).
        grad : callable, optional
            The gradient oracle, called once per ``grad(...)`` in the
            order the calls appear, innermost first.
        numeric : bool, optional
            Force the numeric or the symbolic mode; by default numeric
            when any value used is not a SymPy object.

        Raises
        ------
        ExpressionError
            For a value that is missing, a division by zero or another
            result that is not a finite real number, or a power whose
            exact value would be too large to hold.  In the numeric mode
            the arithmetic is Python's and NumPy's, unchecked: a
            simulation that diverges gets ``inf`` or ``nan`` (or
            ``ZeroDivisionError`` from Python floats), as it would from
            a rule written in Python.

        Examples
        --------
        >>> e = parse_expression("a*x^2 - 1/2", ["a", "x"])
        >>> e.evaluate({"a": sympy.Symbol("a"), "x": sympy.Integer(3)})
        9*a - 1/2
        >>> float(e.evaluate({"a": 2.0, "x": 3.0}))
        17.5
        """
        missing = sorted(self.names - set(values))
        if missing:
            raise ExpressionError(
                self.text, 0, f"no value for name {missing[0]!r}"
            )
        if numeric is None:
            numeric = any(
                not isinstance(values[n], sympy.Basic) for n in self.names
            )
        if self.grad_calls and grad is None:
            raise ExpressionError(
                self.text, 0, "the expression calls grad(...) but no "
                "gradient oracle was given"
            )
        evaluator = _Evaluator(self.text, values, grad, numeric)
        return evaluator.run(self.tree)


class _Evaluator:
    def __init__(self, text, values, grad, numeric):
        self.text = text
        self.values = values
        self.grad = grad
        self.numeric = numeric

    def fail(self, position, reason):
        raise ExpressionError(self.text, position, reason)

    def run(self, node):
        kind, position = node[0], node[1]
        if kind == "number":
            return float(node[2]) if self.numeric else node[2]
        if kind == "name":
            return self.values[node[2]]
        if kind == "neg":
            return -self.run(node[2])
        if kind == "sum":
            return self.sum(node[2])
        if kind == "product":
            return self.product(node[2])
        if kind == "pow":
            return self.power(position, node[2], node[3])
        if kind == "grad":
            points = [self.run(a) for a in node[2]]
            return self.grad(*points)
        name, arguments = node[2], [self.run(a) for a in node[3]]
        function = FUNCTIONS[name][3 if self.numeric else 2]
        return self.checked(position, function(*arguments))

    def sum(self, terms):
        total = 0
        for sign, node in terms:
            value = self.run(node)
            total = total + value if sign == "+" else total - value
        return total

    def product(self, factors):
        total = self.run(factors[0][1])
        for op, node, position in factors[1:]:
            value = self.run(node)
            if op == "*":
                total = total * value
            elif not self.numeric and value == 0:
                self.fail(position, "division by zero")
            else:
                total = total / value
        return total if self.numeric else self.checked(factors[0][1][1],
                                                       total)

    def power(self, position, base_node, exponent_node):
        base, exponent = self.run(base_node), self.run(exponent_node)
        if self.numeric:
            return base**exponent
        if exponent.is_Number:
            self.check_size(position, base, exponent)
        return self.checked(position, base**exponent)

    def check_size(self, position, base, exponent):
        # an exact power of two numbers holds about |e| * bits(base) bits
        if base.is_Rational and exponent.is_Rational:
            bits = base.p.bit_length() + base.q.bit_length()
            if abs(exponent) * bits > _MAX_POWER_BITS:
                self.fail(position, "power too large to compute exactly")
        elif exponent.is_Integer and abs(exponent) > _MAX_SYMBOLIC_EXPONENT:
            self.fail(position, f"integer exponents of non-numbers must lie "
                      f"within +-{_MAX_SYMBOLIC_EXPONENT}, got {exponent}")

    def checked(self, position, value):
        if not isinstance(value, sympy.Basic):
            return value
        bad = (sympy.zoo, sympy.nan, sympy.oo, -sympy.oo)
        if value.has(*bad):
            self.fail(position, "the result is not finite (division by "
                      "zero or the log of zero?)")
        if value.has(sympy.I):
            self.fail(position, "the result is not real (the square root "
                      "or log of a negative number?)")
        return value


def parse_expression(
    text: str,
    names: Iterable[str] = (),
    grad: bool = False,
    players: int = 1,
) -> Expression:
    """Parse `text` safely, accepting only the names in `names`.

    Parameters
    ----------
    text : str
        The expression, in ordinary math syntax.
    names : iterable of str
        Names the expression may read.
    grad : bool
        Whether ``grad(...)`` calls are allowed.
    players : int
        Number of points each ``grad(...)`` call takes (one per player).

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        For anything outside the language, with the column and reason.
    TypeError
        If `text` is not a string.

    Examples
    --------
    >>> e = parse_expression("momentum*v - eta*grad(x)",
    ...                      ["momentum", "v", "eta", "x"], grad=True)
    >>> sorted(e.names), e.grad_calls
    (['eta', 'momentum', 'v', 'x'], 1)
    >>> parse_expression("x.real", ["x"])
    Traceback (most recent call last):
        ...
    lrcontrol.expressions.ExpressionError: character '.' is not allowed \
(attribute access is not supported) at column 2.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"`text` must be a string, got {type(text).__name__}."
        )
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            text, MAX_LENGTH, f"expression longer than {MAX_LENGTH} "
            f"characters ({len(text)})"
        )
    names = frozenset(names)
    parser = _Parser(
        text, _tokenize(text), names, FUNCTIONS, grad, players
    )
    tree = parser.parse()
    return Expression(text, frozenset(parser.used), parser.grad_calls, tree)


def to_sympy(text: str, symbols: Mapping[str, sympy.Basic]) -> sympy.Expr:
    """Parse `text` safely and return it as a SymPy expression.

    Names are replaced by the objects in `symbols`; ``grad`` is not
    allowed.

    Examples
    --------
    >>> eta, h = sympy.symbols("eta h", positive=True)
    >>> to_sympy("1 - eta*h", {"eta": eta, "h": h})
    -eta*h + 1
    >>> to_sympy("0.1 + 1/3", {})
    13/30
    """
    expression = parse_expression(text, symbols)
    return expression.evaluate(symbols, numeric=False)
