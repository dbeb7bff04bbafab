"""The mutants of one module: small AST edits, each named by a key that survives line moves.

A mutant is the module's source with one edit, written back with
``ast.unparse``. Its key is ``module | scope | before -> after``: the scope is
the function (``Class.method``) or the module-level name it is in, and for an
entry of a module-level dict literal (a rule table) ``NAME[key]``; ``before``
and ``after`` are the smallest readable expression around the edit. A key
repeats only when the same edit of the same text occurs twice in one scope;
the later ones end in ``#2``, ``#3``. No key holds a line number, so a key
stays valid while the code around it moves.

The edits:

* in a module-level dict literal: delete an entry; in an entry's value,
  an int +1/-1, an enum member replaced by each other member of its enum
  (or by ``None``, or ``None`` by each member, where the dict's annotation
  allows it), a tuple's two items swapped, a name replaced by the dict's
  other named values, and for a call of a ``NamedTuple`` declared in the
  module (a ``Rule``) the same edits of each field, defaults included;
* anywhere else: comparison operators flipped (``<`` to ``<=`` and ``>=``,
  ``==`` to ``!=``, ``is`` to ``is not``, ``in`` to ``not in``, and back),
  ``and``/``or`` swapped, ``not`` removed, an ``if`` condition (or a
  conditional expression's) negated, int constants +1/-1, ``True``/``False``
  swapped, an enum member replaced by each other member, ``return X``
  replaced by ``return None``, and inside a block of a function (an ``if``,
  ``for``, ``while``, ``with`` or ``try`` body) a simple statement deleted.

Strings, docstrings, annotations, imports and f-strings are left alone.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

Step = tuple[str, int | None]
"""A field of a node and, for a list field, the index in it."""
Where = tuple[Step, ...]
DELETED = "<deleted>"
ENUM_BASES = frozenset({"Enum", "IntEnum", "StrEnum", "Flag", "IntFlag"})
CONTEXTS = (ast.Compare, ast.Call, ast.Tuple, ast.Set, ast.List, ast.Dict)
FLIPS: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
MANY = 6
"""An enum member becomes each other member; in an enum of more members, each neighbour."""
OPPOSITES: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.LtE: ast.Gt,
    ast.Gt: ast.LtE,
    ast.GtE: ast.Lt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
}
BLOCKS = ("body", "orelse", "finalbody")
SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Raise)


@dataclass(frozen=True)
class Mutant:
    """One edit of one module: its key and the whole edited source."""

    module: str
    scope: str
    before: str
    after: str
    occurrence: int
    source: str

    @property
    def key(self) -> str:
        """``module | scope | before -> after``, with ``#n`` for a repeat in the scope."""
        repeat = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.module} | {self.scope} | {self.before} -> {self.after}{repeat}"

    @property
    def ident(self) -> str:
        """A short id of the key, for the command line."""
        return hashlib.sha1(self.key.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Site:
    """Where an edit goes: the node at ``where`` becomes ``new`` (``None``: deleted)."""

    where: Where
    new: ast.AST | None
    scope: str
    context: Where
    label: tuple[str, str] | None = None


def enum_members(sources: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Every enum class of the given modules and its member names, in declaration order."""
    classes: dict[str, tuple[set[str], tuple[str, ...]]] = {}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                bases = {_name_of(base) for base in node.bases}
                members = tuple(
                    target.id
                    for stmt in node.body
                    if isinstance(stmt, ast.Assign)
                    for target in stmt.targets
                    if isinstance(target, ast.Name) and not target.id.startswith("_")
                )
                classes[node.name] = (bases, members)
    enums = set(ENUM_BASES)
    while True:
        more = {name for name, (bases, _) in classes.items() if bases & enums} - enums
        if not more:
            break
        enums |= more
    return {name: members for name, (_, members) in classes.items() if name in enums and members}


def mutants_of(module: str, source: str, enums: dict[str, tuple[str, ...]]) -> list[Mutant]:
    """Every mutant of ``source`` (named ``module``), each a distinct edited source."""
    tree = ast.parse(source)
    seen = {ast.unparse(tree)}
    repeats: Counter[tuple[str, str, str]] = Counter()
    found = []
    for site in Sites(tree, enums).collect():
        edited = edit(tree, site.where, site.new)
        text = ast.unparse(edited)
        if text in seen:
            continue
        seen.add(text)
        before, after = site.label or (
            _text(_at(tree, site.context)),
            _text(_at(edited, site.context)) if site.new is not None else DELETED,
        )
        repeats[site.scope, before, after] += 1
        occurrence = repeats[site.scope, before, after]
        found.append(Mutant(module, site.scope, before, after, occurrence, text))
    return found


def edit(tree: ast.Module, where: Where, new: ast.AST | None) -> ast.Module:
    """``tree`` with the node at ``where`` replaced by ``new`` (``None``: deleted).

    Copies only the nodes (and lists) on the way to the edit; the rest is shared with ``tree``.
    """
    root = copy.copy(tree)
    parent: ast.AST = root
    for step in where:
        name, index = step
        value = getattr(parent, name)
        if index is not None:
            value = list(value)
            setattr(parent, name, value)
        if step is where[-1]:
            break
        node = copy.copy(value if index is None else value[index])
        if index is None:
            setattr(parent, name, node)
        else:
            value[index] = node
        parent = node
    name, index = where[-1]
    if index is None:
        setattr(parent, name, new)
    elif new is None:
        items = getattr(parent, name)
        del items[index]
        if not items and name == "body":
            items.append(ast.Pass())
    else:
        getattr(parent, name)[index] = new
    return root


class Sites:
    """Finds every edit site of a module (see the module docstring for the edits)."""

    def __init__(self, tree: ast.Module, enums: dict[str, tuple[str, ...]]) -> None:
        self.tree = tree
        self.enums = dict(enums)
        self.records: dict[str, list[tuple[str, ast.expr | None, ast.expr | None]]] = {}
        self.found: list[Site] = []
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name):
                if stmt.value.id in enums:  # an alias: ``_S = TransferStatus``
                    for target in stmt.targets:
                        if isinstance(target, ast.Name):
                            self.enums[target.id] = enums[stmt.value.id]
            elif isinstance(stmt, ast.ClassDef) and "NamedTuple" in map(_name_of, stmt.bases):
                self.records[stmt.name] = [
                    (item.target.id, item.annotation, item.value)
                    for item in stmt.body
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
                ]

    def collect(self) -> list[Site]:
        """The sites, in source order."""
        for i, stmt in enumerate(self.tree.body):
            where: Where = (("body", i),)
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                self.statements(stmt.body, (*where, ("body", None)), stmt.name, 0)
            elif isinstance(stmt, ast.ClassDef):
                for j, item in enumerate(stmt.body):
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        scope = f"{stmt.name}.{item.name}"
                        self.statements(item.body, (*where, ("body", j), ("body", None)), scope, 0)
            elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                self.assignment(stmt, where)
        return self.found

    def add(self, where: Where, new: ast.AST | None, scope: str, context: Where) -> None:
        self.found.append(Site(where, new, scope, context))

    # -- module-level assignments and rule tables --------------------------------

    def assignment(self, stmt: ast.Assign | ast.AnnAssign, where: Where) -> None:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        names = [n for t in targets for n in (t.elts if isinstance(t, ast.Tuple) else [t])]
        scope = ", ".join(ast.unparse(name) for name in names)
        if scope == "__all__" or stmt.value is None:
            return
        value_where = (*where, ("value", None))
        annotation = stmt.annotation if isinstance(stmt, ast.AnnAssign) else None
        if isinstance(stmt.value, ast.Dict) and len(targets) == 1:
            self.table(stmt.value, value_where, scope, _type_argument(annotation, 1))
        else:
            self.expression(stmt.value, value_where, scope, where)

    def table(self, table: ast.Dict, where: Where, name: str, value_type: ast.expr | None) -> None:
        named = [value for value in table.values if isinstance(value, ast.Name)]
        for i, (key, value) in enumerate(zip(table.keys, table.values, strict=True)):
            shown = f"**{ast.unparse(value)}" if key is None else ast.unparse(key)
            scope = f"{name}[{shown}]"
            without = copy.deepcopy(table)
            del without.keys[i], without.values[i]
            label = (shown if key is None else ast.unparse(value), DELETED)
            self.found.append(Site(where, without, scope, where, label))
            if key is None:
                continue
            value_where = (*where, ("values", i))
            alternatives = list(self.alternatives(value, value_type))
            if isinstance(value, ast.Name):
                others = {ast.unparse(other) for other in named} - {value.id}
                alternatives += [ast.Name(other, ast.Load()) for other in sorted(others)]
            if alternatives or _is_literal(value):
                for new in alternatives:
                    self.add(value_where, new, scope, value_where)
            else:
                self.expression(value, value_where, scope, value_where)

    def alternatives(self, value: ast.expr, kind: ast.expr | None) -> Iterator[ast.expr]:
        """What a table value may become instead, given its annotated type ``kind``."""
        if isinstance(value, ast.Call) and _name_of(value.func) in self.records:
            yield from self.record_alternatives(value)
        elif isinstance(value, ast.Tuple):
            kinds = _type_arguments(kind)
            for i, item in enumerate(value.elts):
                for new in self.alternatives(item, kinds[i] if i < len(kinds) else None):
                    yield _replaced(value, i, new)
            if len(value.elts) == 2 and ast.dump(value.elts[0]) != ast.dump(value.elts[1]):
                yield ast.Tuple([copy.deepcopy(value.elts[1]), copy.deepcopy(value.elts[0])])
        elif isinstance(value, ast.Constant) and value.value is None:
            for enum in _names_in(kind):
                for member in self.enums.get(enum, ()):
                    yield _member(enum, member)
        else:
            yield from self.scalar_alternatives(value)
            scalar = self.is_member(value) or isinstance(value, ast.Constant)
            if scalar and kind is not None and _allows_none(kind):
                yield ast.Constant(None)

    def record_alternatives(self, call: ast.Call) -> Iterator[ast.expr]:
        fields = self.records[_name_of(call.func)]
        keywords = {keyword.arg: keyword.value for keyword in call.keywords}
        values: list[ast.expr] = []
        for i, (name, _, default) in enumerate(fields):
            value = call.args[i] if i < len(call.args) else keywords.get(name, default)
            if value is None:
                return  # a required field is missing: not a literal record
            values.append(value)
        for i, (_, annotation, _) in enumerate(fields):
            for new in self.alternatives(values[i], annotation):
                args = [copy.deepcopy(value) for value in values]
                args[i] = new
                while args and _same(fields[len(args) - 1][2], args[-1]):
                    args.pop()
                yield ast.Call(copy.deepcopy(call.func), args, [])

    def scalar_alternatives(self, value: ast.expr) -> Iterator[ast.expr]:
        """A constant's or an enum member's alternatives, anywhere."""
        if isinstance(value, ast.Constant) and type(value.value) is bool:
            yield ast.Constant(not value.value)
        elif isinstance(value, ast.Constant) and type(value.value) is int:
            yield ast.Constant(value.value + 1)
            yield ast.Constant(value.value - 1)
        elif self.is_member(value):
            assert isinstance(value, ast.Attribute)
            enum = _name_of(value.value)
            members = self.enums[enum]
            if len(members) > MANY:  # the members declared just before and after it
                at = members.index(value.attr)
                members = tuple({members[at - 1]: 0, members[(at + 1) % len(members)]: 0})
            for member in members:
                if member != value.attr:
                    yield _member(enum, member)

    def is_member(self, value: ast.expr) -> bool:
        return (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.attr in self.enums.get(value.value.id, ())
        )

    # -- code ---------------------------------------------------------------------

    def statements(self, body: list[ast.stmt], where: Where, scope: str, depth: int) -> None:
        for i, stmt in enumerate(body):
            self.statement(stmt, (*where[:-1], (where[-1][0], i)), scope, depth)

    def statement(self, stmt: ast.stmt, where: Where, scope: str, depth: int) -> None:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return  # a docstring
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            self.statements(stmt.body, (*where, ("body", None)), f"{scope}.{stmt.name}", 0)
            return
        if isinstance(stmt, ast.ClassDef | ast.Import | ast.ImportFrom | ast.Global | ast.Pass):
            return
        if depth > 0 and isinstance(stmt, SIMPLE):
            self.add(where, None, scope, where)
        returned = stmt.value if isinstance(stmt, ast.Return) else None
        if returned is not None and not (
            isinstance(returned, ast.Constant) and returned.value is None
        ):
            self.add((*where, ("value", None)), ast.Constant(None), scope, where)
        if isinstance(stmt, ast.If | ast.While):
            self.add((*where, ("test", None)), _negated(stmt.test), scope, where)
        for name, value in ast.iter_fields(stmt):
            if name in BLOCKS or name == "handlers":
                items = [item for item in value if isinstance(item, ast.stmt)]
                self.statements(items, (*where, (name, None)), scope, depth + 1)
                for j, handler in enumerate(value if name == "handlers" else ()):
                    self.statements(handler.body, (*where, (name, j), ("body", None)), scope, 1)
            elif name in ("annotation", "type_comment"):
                continue
            elif isinstance(value, ast.expr):
                self.expression(value, (*where, (name, None)), scope, where)
            elif isinstance(value, list):
                for j, item in enumerate(value):
                    if isinstance(item, ast.expr):
                        self.expression(item, (*where, (name, j)), scope, where)

    def expression(self, node: ast.AST, where: Where, scope: str, context: Where) -> None:
        if isinstance(node, ast.JoinedStr | ast.Lambda):
            return
        own = where if isinstance(node, CONTEXTS) else context
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for flip in FLIPS[type(op)]:
                    changed = copy.deepcopy(node)
                    changed.ops[i] = flip()
                    self.add(where, changed, scope, where)
        elif isinstance(node, ast.BoolOp):
            swapped = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self.add(where, ast.BoolOp(swapped, copy.deepcopy(node.values)), scope, where)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self.add(where, copy.deepcopy(node.operand), scope, where)
        elif isinstance(node, ast.IfExp):
            self.add((*where, ("test", None)), _negated(node.test), scope, where)
        elif isinstance(node, ast.expr):
            for new in self.scalar_alternatives(node):
                self.add(where, new, scope, context)
        for name, value in ast.iter_fields(node):
            children = value if isinstance(value, list) else [value]
            for j, child in enumerate(children):
                step: Step = (name, j if isinstance(value, list) else None)
                if isinstance(child, ast.expr | ast.comprehension | ast.keyword):
                    self.expression(child, (*where, step), scope, own)


def _at(tree: ast.AST, where: Where) -> ast.AST:
    node = tree
    for name, index in where:
        child = getattr(node, name)
        node = child if index is None else child[index]
    return node


def _text(node: ast.AST) -> str:
    """One line for a node: a compound statement by its header."""
    if isinstance(node, ast.If | ast.While):
        return f"{'if' if isinstance(node, ast.If) else 'while'} {ast.unparse(node.test)}"
    if isinstance(node, ast.For):
        return f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}"
    return " ".join(ast.unparse(node).split())


def _same(default: ast.expr | None, value: ast.expr) -> bool:
    """Whether ``value`` is the field's declared ``default``."""
    return default is not None and ast.dump(default) == ast.dump(value)


def _name_of(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else ""


def _names_in(kind: ast.expr | None) -> list[str]:
    return [] if kind is None else [n.id for n in ast.walk(kind) if isinstance(n, ast.Name)]


def _allows_none(kind: ast.expr) -> bool:
    return any(isinstance(n, ast.Constant) and n.value is None for n in ast.walk(kind))


def _type_arguments(kind: ast.expr | None) -> list[ast.expr]:
    """``A, B`` of ``X[A, B]``; ``[A]`` of ``X[A]``."""
    if not isinstance(kind, ast.Subscript):
        return []
    inner = kind.slice
    return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]


def _type_argument(kind: ast.expr | None, index: int) -> ast.expr | None:
    arguments = _type_arguments(kind)
    return arguments[index] if index < len(arguments) else None


def _is_literal(value: ast.expr) -> bool:
    return isinstance(value, ast.Constant | ast.Name | ast.Attribute | ast.Tuple)


def _member(enum: str, member: str) -> ast.Attribute:
    return ast.Attribute(ast.Name(enum, ast.Load()), member, ast.Load())


def _replaced(value: ast.Tuple, index: int, new: ast.expr) -> ast.Tuple:
    items = [copy.deepcopy(item) for item in value.elts]
    items[index] = new
    return ast.Tuple(items, ast.Load())


def _negated(test: ast.expr) -> ast.expr:
    """``not test``, written as the mutants of its parts would be, so that none repeats one.

    The operand of a ``not``; a single comparison with its opposite operator.
    """
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return copy.deepcopy(test.operand)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        opposite = OPPOSITES[type(test.ops[0])]()
        return ast.Compare(copy.deepcopy(test.left), [opposite], copy.deepcopy(test.comparators))
    return ast.UnaryOp(ast.Not(), copy.deepcopy(test))
