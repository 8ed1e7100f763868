"""A small evaluator of Terraform expressions, enough to read the function wiring offline.

python-hcl2 parses ``.tf`` files but leaves expressions as text (``"${merge(...)}"``). This
evaluates the subset the function resources use - literals, templates, traversals, object
and tuple constructors, ``for`` expressions, conditionals, comparisons and a few functions -
against scopes of variables and locals. Whatever depends on a value only known after apply
(a resource attribute, a data source) evaluates to :class:`Unknown`, carrying its text, the
way a plan marks a value "known after apply".
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Unknown:
    """A value known only after apply (or not evaluable offline): its expression text."""

    expression: str


class PartialMap(dict[str, Any]):
    """A ``merge`` of which some arguments are unknown until apply: the known keys, and the
    unknown arguments' text in ``unknown_parts``."""

    unknown_parts: tuple[str, ...] = ()


class HclEvalError(ValueError):
    """An expression this evaluator cannot parse."""


_TOKEN = re.compile(
    r"""\s*(?:
      (?P<number>\d+(?:\.\d+)?)
    | (?P<string>")
    | (?P<heredoc><<-?)
    | (?P<op>=>|==|!=|>=|<=|&&|\|\||\.\.\.|[{}\[\]().,:?=!<>+\-*/%])
    | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)


def _read_string(text: str, start: int) -> tuple[list[Any], int]:
    """Parse a quoted template from just after its opening quote: literal parts and
    ``("expr", text)`` interpolations; returns (parts, index after the closing quote)."""
    parts: list[Any] = []
    literal: list[str] = []
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            escaped = text[i + 1]
            literal.append(
                {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}.get(escaped, escaped)
            )
            i += 2
        elif char == '"':
            parts.append("".join(literal))
            return parts, i + 1
        elif text.startswith("${", i) or text.startswith("%{", i):
            if text.startswith("%{", i):
                raise HclEvalError("template directives are not supported")
            parts.append("".join(literal))
            literal = []
            end = _matching(text, i + 1)
            parts.append(("expr", text[i + 2 : end]))
            i = end + 1
        else:
            literal.append(char)
            i += 1
    raise HclEvalError(f"unterminated string in {text!r}")


def _matching(text: str, open_index: int) -> int:
    """Index of the bracket closing the one at ``open_index`` (strings skipped)."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [pairs[text[open_index]]]
    i = open_index + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            _, i = _read_string(text, i + 1)
            continue
        if char in pairs:
            stack.append(pairs[char])
        elif stack and char == stack[-1]:
            stack.pop()
            if not stack:
                return i
        i += 1
    raise HclEvalError(f"unbalanced brackets in {text!r}")


def tokenize(text: str) -> list[tuple[str, Any]]:
    """Tokens of an expression: (kind, value); strings are pre-parsed templates."""
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        if text[i:].strip() == "":
            break
        match = _TOKEN.match(text, i)
        if not match:
            raise HclEvalError(f"cannot read {text[i : i + 30]!r}")
        kind = match.lastgroup or ""
        if kind == "string":
            parts, i = _read_string(text, match.end())
            tokens.append(("string", parts))
            continue
        if kind == "heredoc":
            raise HclEvalError("heredocs are not supported")
        tokens.append((kind, match.group(kind)))
        i = match.end()
    tokens.append(("end", None))
    return tokens


Node = tuple[Any, ...]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, Any]:
        return self.tokens[self.pos + offset]

    def take(self, value: str | None = None) -> tuple[str, Any]:
        token = self.tokens[self.pos]
        if value is not None and token[1] != value:
            raise HclEvalError(f"expected {value!r}, got {token[1]!r} in {self.text!r}")
        self.pos += 1
        return token

    def at(self, value: str) -> bool:
        kind, token = self.peek()
        return kind == "op" and token == value

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.at("?"):
            self.take("?")
            yes = self.expression()
            self.take(":")
            no = self.expression()
            return ("cond", condition, yes, no)
        return condition

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))

    def binary(self, level: int) -> Node:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek()[0] == "op" and self.peek()[1] in self._LEVELS[level]:
            op = self.take()[1]
            left = ("bin", op, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        if self.at("-"):
            self.take()
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Node) -> Node:
        while True:
            if self.at("."):
                self.take()
                kind, name = self.take()
                node = ("splat", node) if kind == "op" and name == "*" else ("attr", node, name)
            elif self.at("["):
                self.take()
                if self.at("*"):
                    self.take()
                    self.take("]")
                    node = ("splat", node)
                else:
                    index = self.expression()
                    self.take("]")
                    node = ("index", node, index)
            else:
                return node

    def primary(self) -> Node:
        kind, value = self.take()
        if kind == "number":
            return ("lit", float(value) if "." in value else int(value))
        if kind == "string":
            return ("template", [p if isinstance(p, str) else parse(p[1]) for p in value])
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "null":
                return ("lit", None)
            if self.at("("):
                return self.call(value)
            return ("ref", value)
        if value == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if value == "[":
            return self.tuple_()
        if value == "{":
            return self.object_()
        raise HclEvalError(f"unexpected {value!r} in {self.text!r}")

    def call(self, name: str) -> Node:
        self.take("(")
        arguments: list[Node] = []
        expand = False
        while not self.at(")"):
            arguments.append(self.expression())
            if self.at("..."):
                self.take()
                expand = True
            if self.at(","):
                self.take()
        self.take(")")
        return ("call", name, arguments, expand)

    def for_head(self) -> tuple[str | None, str, Node]:
        self.take()  # "for"
        first = self.take()[1]
        second = None
        if self.at(","):
            self.take()
            second = self.take()[1]
        self.take("in")
        collection = self.expression()
        self.take(":")
        return (first if second else None), (second or first), collection

    def tuple_(self) -> Node:
        if self.peek() == ("name", "for"):
            key, value, collection = self.for_head()
            body = self.expression()
            condition = self._for_if()
            self.take("]")
            return ("for_tuple", key, value, collection, body, condition)
        items: list[Node] = []
        while not self.at("]"):
            items.append(self.expression())
            if self.at(","):
                self.take()
        self.take("]")
        return ("tuple", items)

    def _for_if(self) -> Node | None:
        if self.peek() == ("name", "if"):
            self.take()
            return self.expression()
        return None

    def object_(self) -> Node:
        if self.peek() == ("name", "for"):
            key, value, collection = self.for_head()
            key_expr = self.expression()
            self.take("=>")
            body = self.expression()
            grouped = False
            if self.at("..."):
                self.take()
                grouped = True
            condition = self._for_if()
            self.take("}")
            return ("for_object", key, value, collection, key_expr, body, condition, grouped)
        items: list[tuple[Node, Node]] = []
        while not self.at("}"):
            kind, token = self.peek()
            if kind == "name" and self.peek(1)[1] in ("=", ":"):
                self.take()
                key: Node = ("lit", token)
            else:
                key = self.expression()
            self.take()  # "=" or ":"
            items.append((key, self.expression()))
            if self.at(","):
                self.take()
        self.take("}")
        return ("object", items)


def parse(text: str) -> Node:
    """The syntax tree of one expression."""
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek()[0] != "end":
        raise HclEvalError(f"trailing text in {text!r}")
    return node


def parse_value(value: Any) -> Node:
    """A python-hcl2 attribute value as a syntax tree: ``"${...}"`` and quoted strings are
    expressions; dicts and lists are object and tuple constructors."""
    if isinstance(value, str):
        if value.startswith("${") and _is_one_interpolation(value):
            return parse(value[2:-1])
        if value.startswith('"'):
            return parse(value)
        return parse(value)
    if isinstance(value, dict):
        return ("object", [(("lit", k.strip('"')), parse_value(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("tuple", [parse_value(v) for v in value])
    return ("lit", value)


def _is_one_interpolation(value: str) -> bool:
    try:
        return _matching(value, 1) == len(value) - 1
    except HclEvalError:
        return False


Resolver = Callable[[str], Any]


class Scope:
    """Names visible to an expression: ``var``, ``local``, ``each``, iteration variables, and
    ``path``; anything else (resources, data sources) is unknown until apply."""

    def __init__(self, names: Mapping[str, Any], base: Path) -> None:
        self.names = dict(names)
        self.base = base

    def child(self, **names: Any) -> Scope:
        return Scope({**self.names, **names}, self.base)


def _truthy(value: Any) -> bool:
    return bool(value) and not isinstance(value, Unknown)


def evaluate(node: Node, scope: Scope) -> Any:
    """The value of a syntax tree in ``scope``; :class:`Unknown` where apply would decide."""
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "template":
        parts = [p if isinstance(p, str) else evaluate(p, scope) for p in node[1]]
        if len(parts) == 3 and parts[0] == parts[2] == "" and not isinstance(node[1][1], str):
            return parts[1]  # "${x}" keeps x's type
        if any(isinstance(p, Unknown) for p in parts):
            return Unknown(_text(node))
        return "".join(_as_string(p) for p in parts)
    if tag == "ref":
        name = node[1]
        if name in scope.names:
            return scope.names[name]
        return Unknown(name)
    if tag in ("attr", "index"):
        base = evaluate(node[1], scope)
        key = node[2] if tag == "attr" else evaluate(node[2], scope)
        if isinstance(base, Unknown) or isinstance(key, Unknown):
            return Unknown(_text(node))
        if isinstance(base, Mapping):
            if key not in base:
                return Unknown(_text(node))
            value = base[key]
            return value() if callable(value) else value
        if isinstance(base, list) and isinstance(key, int):
            return base[key]
        return Unknown(_text(node))
    if tag == "splat":
        return Unknown(_text(node))
    if tag == "not":
        value = evaluate(node[1], scope)
        return value if isinstance(value, Unknown) else not value
    if tag == "neg":
        value = evaluate(node[1], scope)
        return value if isinstance(value, Unknown) else -value
    if tag == "bin":
        return _binary(node, scope)
    if tag == "cond":
        condition = evaluate(node[1], scope)
        if isinstance(condition, Unknown):
            return Unknown(_text(node))
        return evaluate(node[2] if condition else node[3], scope)
    if tag == "tuple":
        return [evaluate(item, scope) for item in node[1]]
    if tag == "object":
        result: dict[str, Any] = {}
        for key_node, value_node in node[1]:
            key = evaluate(key_node, scope)
            if isinstance(key, Unknown):
                return Unknown(_text(node))
            result[str(key)] = evaluate(value_node, scope)
        return result
    if tag in ("for_object", "for_tuple"):
        return _for(node, scope)
    if tag == "call":
        return _call(node, scope)
    raise HclEvalError(f"cannot evaluate {tag}")


def _binary(node: Node, scope: Scope) -> Any:
    _, op, left_node, right_node = node
    left = evaluate(left_node, scope)
    if op == "&&" and not isinstance(left, Unknown) and not left:
        return False
    if op == "||" and _truthy(left):
        return True
    right = evaluate(right_node, scope)
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown(_text(node))
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "&&": lambda a, b: bool(a and b),
        "||": lambda a, b: bool(a or b),
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b,
        "-": lambda a, b: a - b,
        "*": lambda a, b: a * b,
        "/": lambda a, b: a / b,
        "%": lambda a, b: a % b,
    }
    return operations[op](left, right)


def _for(node: Node, scope: Scope) -> Any:
    collection = evaluate(node[3], scope)
    if isinstance(collection, Unknown):
        return Unknown(_text(node))
    pairs = (
        list(collection.items()) if isinstance(collection, Mapping) else list(enumerate(collection))
    )
    key_name, value_name = node[1], node[2]
    if node[0] == "for_tuple":
        body, condition = node[4], node[5]
        out_list = []
        for key, value in pairs:
            inner = scope.child(**({key_name: key} if key_name else {}), **{value_name: value})
            keep = True if condition is None else evaluate(condition, inner)
            if isinstance(keep, Unknown):
                return Unknown(_text(node))
            if keep:
                out_list.append(evaluate(body, inner))
        return out_list
    key_expr, body, condition, grouped = node[4], node[5], node[6], node[7]
    out: dict[str, Any] = {}
    for key, value in pairs:
        inner = scope.child(**({key_name: key} if key_name else {}), **{value_name: value})
        keep = True if condition is None else evaluate(condition, inner)
        if isinstance(keep, Unknown):
            return Unknown(_text(node))
        if not keep:
            continue
        result_key = evaluate(key_expr, inner)
        if isinstance(result_key, Unknown):
            return Unknown(_text(node))
        if grouped:
            out.setdefault(str(result_key), []).append(evaluate(body, inner))
        else:
            out[str(result_key)] = evaluate(body, inner)
    return out


def _call(node: Node, scope: Scope) -> Any:
    _, name, argument_nodes, expand = node
    if name == "try":
        for argument in argument_nodes:
            try:
                value = evaluate(argument, scope)
            except (KeyError, IndexError, TypeError):
                continue
            if not isinstance(value, Unknown):
                return value
        return Unknown(_text(node))
    arguments = [evaluate(a, scope) for a in argument_nodes]
    if expand and arguments:
        *head, last = arguments
        if isinstance(last, Unknown):
            return Unknown(_text(node))
        arguments = [*head, *last]
    if name == "merge":
        merged = PartialMap()
        unknown_parts: list[str] = []
        for argument in arguments:
            if isinstance(argument, Unknown):
                unknown_parts.append(argument.expression)
                continue
            merged.update(argument or {})
            unknown_parts.extend(getattr(argument, "unknown_parts", ()))
        merged.unknown_parts = tuple(unknown_parts)
        return merged
    if any(isinstance(a, Unknown) for a in arguments):
        return Unknown(_text(node))
    functions: dict[str, Callable[..., Any]] = {
        "tostring": _as_string,
        "tonumber": lambda v: float(v) if "." in str(v) else int(v),
        "jsondecode": json.loads,
        "file": lambda p: (scope.base / p).read_text(encoding="utf-8"),
        "lookup": lambda m, k, *d: m.get(k, d[0]) if d else m[k],
        "keys": sorted,
        "values": lambda m: [m[k] for k in sorted(m)],
        "contains": lambda c, v: v in c,
        "length": len,
        "min": min,
        "max": max,
        "substr": lambda s, o, n: s[o : (None if n < 0 else o + n)],
        "distinct": lambda xs: list(dict.fromkeys(xs)),
        "concat": lambda *xs: [x for part in xs for x in part],
        "flatten": _flatten,
        "toset": lambda xs: list(dict.fromkeys(xs)),
        "tolist": list,
        "tomap": dict,
        "replace": lambda s, a, b: s.replace(a, b),
        "startswith": lambda s, p: s.startswith(p),
        "md5": lambda s: hashlib.md5(s.encode()).hexdigest(),
        "endswith": lambda s, p: s.endswith(p),
        "lower": str.lower,
        "upper": str.upper,
        "join": lambda sep, xs: sep.join(xs),
        "format": lambda f, *xs: f.replace("%s", "{}").replace("%d", "{}").format(*xs),
        "coalesce": lambda *xs: next(x for x in xs if x not in (None, "")),
        "abspath": lambda p: str((scope.base / p).resolve()),
    }
    if name not in functions:
        return Unknown(_text(node))
    return functions[name](*arguments)


def _flatten(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _as_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _text(node: Node) -> str:
    """A readable rendering of a node (for Unknown values and messages)."""
    tag = node[0]
    if tag == "lit":
        return json.dumps(node[1])
    if tag == "ref":
        return str(node[1])
    if tag == "attr":
        return f"{_text(node[1])}.{node[2]}"
    if tag == "index":
        return f"{_text(node[1])}[{_text(node[2])}]"
    if tag == "splat":
        return f"{_text(node[1])}[*]"
    if tag == "template":
        return (
            '"' + "".join(p if isinstance(p, str) else "${" + _text(p) + "}" for p in node[1]) + '"'
        )
    if tag == "call":
        return f"{node[1]}({', '.join(_text(a) for a in node[2])})"
    if tag == "bin":
        return f"{_text(node[2])} {node[1]} {_text(node[3])}"
    if tag == "cond":
        return f"{_text(node[1])} ? {_text(node[2])} : {_text(node[3])}"
    if tag in ("for_object", "for_tuple"):
        names = ", ".join(n for n in (node[1], node[2]) if n)
        open_, close = ("{", "}") if tag == "for_object" else ("[", "]")
        return f"{open_}for {names} in {_text(node[3])} : ...{close}"
    return tag
