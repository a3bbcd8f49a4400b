"""A small, safe condition language for custom alert rules.

Rules are edited from the CLI, YAML and the dashboard, so their text is
untrusted. It is parsed once with `ast.parse(mode="eval")` after cheap size and
nesting checks, then every node is checked against a strict whitelist and
compiled into a tree of plain Python closures. User text never reaches
`eval`, `exec` or `compile`.

Grammar (Python syntax, subset):

* numbers, `True`/`False`; metric names (see `PAIR_METRICS`, `SYMBOL_METRICS`, `ALIASES`)
* arithmetic `+ - * / % **` (exponent limited to |e| <= 64), unary `- + not`
* comparisons `< <= > >= == !=`, chained (`0 < half_life < 600`)
* `and`, `or`; calls of `abs min max round sqrt log exp` only

Evaluation semantics: a metric that is missing or NaN, or any math error
(division by zero, log of a negative, overflow), makes the whole condition
*unknown*; `evaluate` reports unknown as False, so a rule never fires on data
it does not have.
"""

from __future__ import annotations

import ast
import difflib
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_LENGTH = 500
MAX_BRACKET_DEPTH = 32
MAX_AST_DEPTH = 64
MAX_EXPONENT = 64.0

PAIR_METRICS = frozenset(
    {
        "zscore",
        "hedge_ratio",
        "intercept",
        "spread",
        "spread_mean",
        "spread_std",
        "correlation",
        "adf_stat",
        "adf_pvalue",
        "coint_pvalue",
        "half_life",
        "n_obs",
    }
)
SYMBOL_METRICS = frozenset(
    {
        "price",
        "last_price",
        "vwap",
        "imbalance",
        "vol_percentile",
        "realized_vol",
        "vol_short",
        "vol_long",
        "vol_ratio",
        "trend_direction",
        "trend_slope",
        "trend_pvalue",
        "n_trades",
    }
)
# Short names used in docs and examples (`abs(z) > 2.5 and adf_p < 0.05`).
ALIASES: dict[str, str] = {
    "z": "zscore",
    "adf_p": "adf_pvalue",
    "coint_p": "coint_pvalue",
    "corr": "correlation",
    "beta": "hedge_ratio",
    "vol": "realized_vol",
}
KNOWN_NAMES = PAIR_METRICS | SYMBOL_METRICS | frozenset(ALIASES)

Value = float | bool
Node = Callable[[Mapping[str, float]], Value]


class ExpressionError(ValueError):
    """A rejected expression; `column` (0-based) points at the offending part."""

    def __init__(self, message: str, column: int = 0, source: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.column = max(0, column)
        self.source = source

    def __str__(self) -> str:
        return f"{self.message} (column {self.column + 1})"

    def caret(self) -> str:
        """The source line with a caret under the offending column, for terminals."""
        src = self.source.replace("\n", " ").replace("\t", " ")
        if len(src) > 120:  # keep a window around the column
            start = max(0, self.column - 60)
            return src[start : start + 120] + "\n" + " " * (self.column - start) + "^"
        return src + "\n" + " " * min(self.column, len(src)) + "^"


class _Unknown(Exception):
    """Internal: a metric is missing/NaN or the arithmetic failed."""


def _metric(name: str) -> Node:
    def get(m: Mapping[str, float]) -> float:
        v = m.get(name)
        if v is None or isinstance(v, str):
            raise _Unknown(name)
        f = float(v)
        if math.isnan(f):
            raise _Unknown(name)
        return f

    return get


def _const(value: Value) -> Node:
    return lambda m: value


def _pow(a: float, b: float) -> float:
    if abs(b) > MAX_EXPONENT:
        raise _Unknown("exponent")
    r = float(a) ** float(b)
    if isinstance(r, complex):
        raise _Unknown("complex")
    return r


def _round(x: float, nd: float = 0) -> float:
    nd_i = int(nd)
    if nd_i != nd or abs(nd_i) > 15:
        raise _Unknown("round")
    return float(round(x, nd_i))


_BINOPS: dict[type, Callable[[Any, Any], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Mod: lambda a, b: a % b,
    ast.Pow: _pow,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b,
    ast.Gt: lambda a, b: a > b,
    ast.GtE: lambda a, b: a >= b,
    ast.Eq: lambda a, b: a == b,
    ast.NotEq: lambda a, b: a != b,
}
# name -> (function, min args, max args)
FUNCTIONS: dict[str, tuple[Callable[..., float], int, int]] = {
    "abs": (lambda x: abs(x), 1, 1),
    "min": (lambda *xs: min(xs), 2, 8),
    "max": (lambda *xs: max(xs), 2, 8),
    "round": (_round, 1, 2),
    "sqrt": (math.sqrt, 1, 1),
    "log": (math.log, 1, 2),
    "exp": (math.exp, 1, 1),
}
_NODE_WORDS: dict[type, str] = {
    ast.Attribute: "attribute access (a.b)",
    ast.Subscript: "subscripts (a[0])",
    ast.Lambda: "lambda",
    ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions",
    ast.List: "lists",
    ast.Tuple: "tuples",
    ast.Dict: "dicts",
    ast.Set: "sets",
    ast.IfExp: "conditional expressions (x if c else y)",
    ast.NamedExpr: "assignment (:=)",
    ast.JoinedStr: "strings",
    ast.Starred: "starred arguments",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}


@dataclass(frozen=True)
class Expression:
    """A compiled condition: `evaluate(metrics)` is True only when it surely holds."""

    source: str
    names: frozenset[str]  # canonical metric names used
    _fn: Node = field(repr=False, compare=False)

    def evaluate_or_none(self, metrics: Mapping[str, float]) -> bool | None:
        """True/False, or None when a metric is missing/NaN or the math failed."""
        try:
            return bool(self._fn(metrics))
        except (_Unknown, ArithmeticError, ValueError, TypeError):
            return None

    def evaluate(self, metrics: Mapping[str, float]) -> bool:
        return self.evaluate_or_none(metrics) is True


def _check_shape(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise ExpressionError(
            f"expression is {len(text)} characters; the limit is {MAX_LENGTH}", MAX_LENGTH, text
        )
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
            if depth > MAX_BRACKET_DEPTH:
                raise ExpressionError(f"brackets nested deeper than {MAX_BRACKET_DEPTH}", i, text)
        elif ch in ")]}":
            depth -= 1


def _ast_depth_ok(tree: ast.AST) -> tuple[bool, ast.AST | None]:
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, d = stack.pop()
        if d > MAX_AST_DEPTH:
            return False, node
        stack.extend((c, d + 1) for c in ast.iter_child_nodes(node))
    return True, None


class _Compiler:
    def __init__(self, text: str) -> None:
        self.text = text
        self.names: set[str] = set()
        # ast col_offset counts UTF-8 bytes; carets need characters
        self._raw = text.encode("utf-8")

    def col(self, node: ast.AST) -> int:
        off = getattr(node, "col_offset", 0) or 0
        return len(self._raw[:off].decode("utf-8", errors="ignore"))

    def fail(self, message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(message, self.col(node), self.text)

    def compile(self, node: ast.AST) -> Node:
        """Compile one node through the dispatch table; anything not in it is refused."""
        handler = _COMPILERS.get(type(node))
        if handler is not None:
            return handler(self, node)
        raise self.refuse(node)

    def refuse(self, node: ast.AST) -> ExpressionError:
        """The error for a node kind the language does not have, pointing at the bad part."""
        word = _NODE_WORDS.get(type(node), type(node).__name__)
        err = self.fail(f"{word} not allowed in alert conditions", node)
        if isinstance(node, ast.Attribute) and node.end_col_offset is not None:
            err.column = (
                self.col(node) + (node.end_col_offset - node.col_offset) - len(node.attr) - 1
            )
        elif isinstance(node, ast.Subscript):
            err.column = max(0, self.col(node.slice) - 1)
        return err

    def bool_op(self, node: ast.BoolOp) -> Node:
        parts = [self.compile(v) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda m: all(p(m) for p in parts)
        return lambda m: any(p(m) for p in parts)

    def unary_op(self, node: ast.UnaryOp) -> Node:
        operand = self.compile(node.operand)
        if isinstance(node.op, ast.Not):
            return lambda m: not operand(m)
        if isinstance(node.op, ast.USub):
            return lambda m: -operand(m)
        if isinstance(node.op, ast.UAdd):
            return lambda m: +operand(m)
        raise self.fail("operator '~' is not allowed", node)

    def bin_op(self, node: ast.BinOp) -> Node:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.fail(
                f"operator {type(node.op).__name__} is not allowed (use + - * / % **)", node
            )
        left, right = self.compile(node.left), self.compile(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant):
            if abs(float(node.right.value)) > MAX_EXPONENT:
                raise self.fail(f"exponent larger than {MAX_EXPONENT:g}", node.right)

        def binop(m: Mapping[str, float]) -> float:
            r = op(left(m), right(m))
            if not math.isfinite(r):  # overflow to inf, inf - inf: a math error
                raise _Unknown("overflow")
            return r

        return binop

    def compare(self, node: ast.Compare) -> Node:
        ops = []
        for o in node.ops:
            f = _CMPOPS.get(type(o))
            if f is None:
                raise self.fail(
                    f"comparison {type(o).__name__} is not allowed (use < <= > >= == !=)", node
                )
            ops.append(f)
        operands = [self.compile(node.left)] + [self.compile(c) for c in node.comparators]

        def compare(m: Mapping[str, float]) -> bool:
            a = operands[0](m)
            for f, nxt in zip(ops, operands[1:], strict=True):
                b = nxt(m)
                if not f(a, b):
                    return False
                a = b
            return True

        return compare

    def constant(self, node: ast.Constant) -> Node:
        v = node.value
        if isinstance(v, bool):
            return _const(v)
        if isinstance(v, int | float):
            try:
                fv = float(v)
            except OverflowError:
                raise self.fail("number too large", node) from None
            if not math.isfinite(fv):
                raise self.fail("number too large", node)
            return _const(fv)
        what = "strings" if isinstance(v, str | bytes) else f"constant {v!r}"
        raise self.fail(f"{what} are not allowed; only numbers and True/False", node)

    def name(self, node: ast.Name) -> Node:
        ident = node.id
        if ident in ("True", "False"):  # pragma: no cover - parsed as Constant
            return _const(ident == "True")
        if ident in FUNCTIONS:
            raise self.fail(f"{ident} is a function: call it, e.g. {ident}(zscore)", node)
        canonical = ALIASES.get(ident, ident)
        if canonical not in PAIR_METRICS and canonical not in SYMBOL_METRICS:
            close = difflib.get_close_matches(ident, sorted(KNOWN_NAMES), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise self.fail(f"unknown metric {ident!r}{hint}", node)
        self.names.add(canonical)
        return _metric(canonical)

    def call(self, node: ast.Call) -> Node:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only plain function calls like abs(x) are allowed", node)
        fname = node.func.id
        spec = FUNCTIONS.get(fname)
        if spec is None:
            close = difflib.get_close_matches(fname, sorted(FUNCTIONS), n=2, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise self.fail(
                f"function {fname!r} is not allowed (allowed: {', '.join(FUNCTIONS)}){hint}",
                node,
            )
        if node.keywords:
            raise self.fail(f"{fname}() takes no keyword arguments", node.keywords[0].value)
        fn, lo, hi = spec
        if not lo <= len(node.args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.fail(f"{fname}() takes {want} argument(s), got {len(node.args)}", node)
        args = [self.compile(a) for a in node.args]

        def call(m: Mapping[str, float]) -> float:
            r = fn(*(a(m) for a in args))
            if not math.isfinite(r):
                raise _Unknown("overflow")
            return r

        return call


_CONDITION_NODES = (ast.Compare, ast.BoolOp)


# The whole language: one compiler method per node kind (anything else is refused).
_COMPILERS: dict[type[ast.AST], Callable[[_Compiler, Any], Node]] = {
    ast.BoolOp: _Compiler.bool_op,
    ast.UnaryOp: _Compiler.unary_op,
    ast.BinOp: _Compiler.bin_op,
    ast.Compare: _Compiler.compare,
    ast.Name: _Compiler.name,
    ast.Constant: _Compiler.constant,
    ast.Call: _Compiler.call,
}


def compile_expression(text: str) -> Expression:
    """Parse and compile `text`; raises ExpressionError with a column on any problem.

    Raises:
        ExpressionError: anything the safe language refuses (syntax, an unknown name,
            a call or operator it does not allow), with the column.
    """
    if not isinstance(text, str):
        raise ExpressionError("expression must be text")
    # Tabs/newlines become spaces so columns stay one line.
    src = text.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    _check_shape(src)
    if not src.strip():
        raise ExpressionError("expression is empty", 0, text)
    stripped = src.lstrip()
    lead = len(src) - len(stripped)
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for `1and`
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(stripped, mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1) - 1 + lead
        raise ExpressionError(f"syntax error: {exc.msg}", col, text) from None
    except (ValueError, MemoryError, RecursionError) as exc:
        raise ExpressionError(f"cannot parse expression: {exc}", 0, text) from None
    ok, deep = _ast_depth_ok(tree)
    comp = _Compiler(stripped)
    try:
        if not ok:
            raise comp.fail(f"expression nested deeper than {MAX_AST_DEPTH} levels", deep)
        body = tree.body
        if not (
            isinstance(body, _CONDITION_NODES)
            or (isinstance(body, ast.UnaryOp) and isinstance(body.op, ast.Not))
            or (isinstance(body, ast.Constant) and isinstance(body.value, bool))
        ):
            # Still run the whitelist so hostile input gets the specific message.
            comp.compile(body)
            raise comp.fail("a condition needs a comparison, e.g. abs(zscore) > 2.5", body)
        fn = comp.compile(body)
    except ExpressionError as exc:
        raise ExpressionError(exc.message, exc.column + lead, text) from None
    except RecursionError:
        raise ExpressionError("expression too complex", 0, text) from None
    return Expression(text, frozenset(comp.names), fn)


def metric_scope(names: frozenset[str]) -> str | None:
    """'pair', 'symbol', or None when no metric is used; raises on a mix.

    Raises:
        ExpressionError: the names mix pair and symbol metrics.
    """
    pair = names & PAIR_METRICS
    sym = names & SYMBOL_METRICS
    if pair and sym:
        raise ExpressionError(
            f"expression mixes pair metrics ({', '.join(sorted(pair))}) and symbol metrics "
            f"({', '.join(sorted(sym))}); a rule looks at one pair or one symbol"
        )
    if pair:
        return "pair"
    if sym:
        return "symbol"
    return None
