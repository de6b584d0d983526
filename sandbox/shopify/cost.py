"""Query cost as Shopify's GraphQL Admin API computes it (a documented simplification).

Shopify gives every field a cost by what it returns: a scalar or an enum 0, an object 1, a
connection 2 plus its page (``first`` / ``last``) times the cost of one node, a mutation 10.
The *requested* cost is computed from the query before it runs (every page full); the
*actual* cost from what it returned (the pages as long as they were). The bucket is charged
the requested cost up front and refunded the difference afterwards.

The simplifications: a plain list of objects (``fulfillmentHolds``, ``trackingInfo``) costs
1 per object like a nested object; a mutation costs 10 whatever its payload selects;
introspection (``__schema``, ``__type``) costs nothing. A connection without ``first`` or
``last``, or with more than 250, is refused before it runs, as Shopify does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    get_named_type,
    value_from_ast,
)

from rxfloor.sandbox.shopify.state import MAX_PAGE

MUTATION_COST = 10
CONNECTION_COST = 2

_Parent = GraphQLObjectType | GraphQLInterfaceType


@dataclass(slots=True)
class _Field:
    """One response key: its field definition and the merged sub-selections."""

    key: str
    name: str
    node: FieldNode
    parent: _Parent
    children: list[tuple[SelectionSetNode, _Parent]] = field(default_factory=list)


class CostRefusal(Exception):
    """A query Shopify refuses before running it (page size)."""

    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__(errors[0].message)
        self.errors = errors


class Coster:
    """Requested and actual cost of one operation."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = variables
        self.mutation = operation.operation.value == "mutation"
        root = schema.mutation_type if self.mutation else schema.query_type
        assert root is not None
        self.root: GraphQLObjectType = root

    # -- requested ------------------------------------------------------------------------

    def requested(self) -> int:
        """The cost with every page full; raises :class:`CostRefusal` for a bad page size."""
        fields = self._collect([(self.operation.selection_set, self.root)])
        if self.mutation:
            return MUTATION_COST * sum(1 for f in fields if not f.name.startswith("__"))
        errors: list[GraphQLError] = []
        cost = sum(self._field_cost(f, errors) for f in fields)
        if errors:
            raise CostRefusal(errors)
        return cost

    def _field_cost(self, f: _Field, errors: list[GraphQLError]) -> int:
        kind = self._kind(f)
        if kind == "free":
            return 0
        children = self._collect(f.children)
        if kind == "connection":
            size = self._page_size(f, errors)
            node = max(
                (self._node_cost(c, errors) for c in children if c.name in ("edges", "nodes")),
                default=0,
            )
            return CONNECTION_COST + size * node
        return 1 + sum(self._field_cost(c, errors) for c in children)

    def _node_cost(self, f: _Field, errors: list[GraphQLError]) -> int:
        """``nodes`` or ``edges { node }``: what one node of the page costs."""
        children = self._collect(f.children)
        if f.name == "nodes":
            return 1 + sum(self._field_cost(c, errors) for c in children)
        return max(
            (
                1 + sum(self._field_cost(g, errors) for g in self._collect(c.children))
                for c in children
                if c.name == "node"
            ),
            default=0,
        )

    def _page_size(self, f: _Field, errors: list[GraphQLError]) -> int:
        sizes = {}
        for arg in f.node.arguments or ():
            if arg.name.value in ("first", "last"):
                value = value_from_ast(arg.value, GraphQLInt, dict(self.variables))
                if value is not None and value is not Undefined:
                    sizes[arg.name.value] = value
        if not sizes:
            errors.append(
                GraphQLError(
                    f"you must provide one of first or last for the {f.name} connection",
                    f.node,
                    extensions={"code": "BAD_REQUEST"},
                )
            )
            return 0
        size = max(sizes.values())
        if size > MAX_PAGE or size < 0:
            errors.append(
                GraphQLError(
                    f"{f.name}: first and last must be between 0 and {MAX_PAGE} (got {size})",
                    f.node,
                    extensions={"code": "BAD_REQUEST"},
                )
            )
            return 0
        return int(size)

    # -- actual ---------------------------------------------------------------------------

    def actual(self, data: Mapping[str, Any] | None) -> int:
        """The cost of what was returned (``data`` as the result holds it)."""
        fields = self._collect([(self.operation.selection_set, self.root)])
        if self.mutation:
            return MUTATION_COST * sum(
                1 for f in fields if not f.name.startswith("__") and data and f.key in data
            )
        if not data:
            return 0
        return sum(self._value_cost(f, data.get(f.key)) for f in fields if f.key in data)

    def _value_cost(self, f: _Field, value: Any) -> int:
        kind = self._kind(f)
        if kind == "free" or value is None:
            return 0
        children = self._collect(f.children)
        if kind == "connection":
            assert isinstance(value, dict)
            per_node = 0
            for c in children:
                items = value.get(c.key) or []
                if c.name == "nodes":
                    cost = sum(self._object_cost(c, item) for item in items)
                elif c.name == "edges":
                    cost = sum(
                        self._object_cost(g, edge.get(g.key))
                        for edge in items
                        for g in self._collect(c.children)
                        if g.name == "node"
                    )
                else:
                    continue
                per_node = max(per_node, cost)
            return CONNECTION_COST + per_node
        if isinstance(value, list):
            return sum(self._object_cost(f, item) for item in value)
        return self._object_cost(f, value)

    def _object_cost(self, f: _Field, value: Any) -> int:
        if not isinstance(value, dict):
            return 0
        children = self._collect(f.children)
        return 1 + sum(self._value_cost(c, value.get(c.key)) for c in children if c.key in value)

    # -- selection walking ----------------------------------------------------------------

    def _kind(self, f: _Field) -> str:
        if f.name.startswith("__"):
            return "free"
        definition = f.parent.fields.get(f.name)
        if definition is None:
            return "free"
        named = get_named_type(definition.type)
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            return "free"
        return "connection" if named.name.endswith("Connection") else "object"

    def _collect(self, selections: Iterable[tuple[SelectionSetNode, _Parent]]) -> list[_Field]:
        """The fields of these selection sets by response key, fragments flattened."""
        out: dict[str, _Field] = {}
        for selection_set, parent in selections:
            self._gather(selection_set, parent, out)
        return list(out.values())

    def _gather(
        self, selection_set: SelectionSetNode, parent: _Parent, out: dict[str, _Field]
    ) -> None:
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                key = sel.alias.value if sel.alias else sel.name.value
                entry = out.get(key)
                if entry is None:
                    entry = out[key] = _Field(key, sel.name.value, sel, parent)
                if sel.selection_set is not None:
                    definition = parent.fields.get(sel.name.value)
                    child = get_named_type(definition.type) if definition else None
                    if isinstance(child, GraphQLObjectType | GraphQLInterfaceType):
                        entry.children.append((sel.selection_set, child))
            elif isinstance(sel, InlineFragmentNode):
                self._gather(sel.selection_set, self._typed(sel.type_condition, parent), out)
            elif isinstance(sel, FragmentSpreadNode):
                fragment = self.fragments.get(sel.name.value)
                if fragment is not None:
                    self._gather(
                        fragment.selection_set, self._typed(fragment.type_condition, parent), out
                    )

    def _typed(self, condition: Any, parent: _Parent) -> _Parent:
        if condition is None:
            return parent
        named = self.schema.get_type(condition.name.value)
        return named if isinstance(named, GraphQLObjectType | GraphQLInterfaceType) else parent
