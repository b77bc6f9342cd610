"""Cost limits for GraphQL documents, enforced before anything runs.

One request must not be able to do the work of thousands: 1,000 aliases of
``tasks(limit: 100)`` would read 100,000 rows, 300 aliased task mutations would
enqueue 300 tasks. The limits are task settings (``docs/settings.md``), read at
each request:

==========================  =======  ==================================================
setting                     default  what it bounds
==========================  =======  ==================================================
``graphql_max_tokens``      5000     lexical tokens of the document (checked by the parser)
``graphql_max_depth``       12       nesting of selections (fragments followed)
``graphql_max_aliases``     30       aliased fields in the document
``graphql_max_fields``      500      fields one operation selects, each fragment use counted
``graphql_max_operations``  10       operations defined in the document
``graphql_max_mutations``   10       root fields of a mutation
==========================  =======  ==================================================

plus ``RAIL_TASKS_GRAPHQL["tasks_max_limit"]`` for the page size of ``tasks``.
:class:`~rail_tasks_graphql.consumers.GraphQLTransportWSConsumer` and
:class:`~rail_tasks_graphql.views.GraphQLView` apply them; with a view of your own
pass ``validation_rules=validation_rules()`` and parse with ``max_tokens``
(:func:`parse_document`).
"""

from __future__ import annotations

from typing import Any

from graphene.validation import depth_limit_validator
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
    specified_rules,
)
from graphql.language.visitor import SKIP

from rail_tasks import task_settings

__all__ = ["LIMIT_EXCEEDED", "CostLimitsRule", "parse_document", "validation_rules"]

#: ``extensions.code`` of a document refused by a limit.
LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


def _limit_error(message: str, setting: str) -> GraphQLError:
    return GraphQLError(f"{message} (task setting {setting}).", extensions={"code": LIMIT_EXCEEDED})


def parse_document(source: str) -> DocumentNode:
    """Parse ``source``, refusing more than ``graphql_max_tokens`` tokens before building a huge tree."""
    limit = int(task_settings.graphql_max_tokens)
    try:
        return parse(source, max_tokens=limit)
    except GraphQLError as error:
        if "tokens" in error.message.lower():
            raise _limit_error(f"The document has more than {limit} tokens", "graphql_max_tokens") from error
        raise


class _FieldCounter:
    """Fields selected under a selection set, each fragment spread counting its fragment's fields again.

    Memoised per fragment, so a document whose fragments nest exponentially is
    still counted in linear time (the count itself may be astronomical).
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.memo: dict[str, int] = {}
        self.active: set[str] = set()

    def count(self, selection_set: SelectionSetNode | None) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += 1 + self.count(node.selection_set)
            elif isinstance(node, InlineFragmentNode):
                total += self.count(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.memo:
            return self.memo[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.active:  # unknown or cyclic: other rules report it
            return 0
        self.active.add(name)
        self.memo[name] = self.count(definition.selection_set)
        self.active.discard(name)
        return self.memo[name]

    def root_fields(self, selection_set: SelectionSetNode) -> int:
        """Root fields of an operation (fragments on the root type followed, each use counted)."""
        total = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                total += 1
            elif isinstance(node, InlineFragmentNode):
                total += self.root_fields(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                definition = self.fragments.get(node.name.value)
                if definition is not None and node.name.value not in self.active:
                    self.active.add(node.name.value)
                    total += self.root_fields(definition.selection_set)
                    self.active.discard(node.name.value)
        return total


def _aliases(node: Any) -> int:
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, FieldNode) and current.alias is not None:
            count += 1
        selection_set = getattr(current, "selection_set", None)
        if selection_set is not None:
            stack.extend(selection_set.selections)
    return count


class CostLimitsRule(ASTValidationRule):
    """Aliases, fields per operation, operations per document and mutation fields, within the task settings."""

    def enter_document(self, node: DocumentNode, *_args: Any) -> Any:
        operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
        fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        max_operations = int(task_settings.graphql_max_operations)
        if len(operations) > max_operations:
            self.report_error(
                _limit_error(f"The document defines more than {max_operations} operations", "graphql_max_operations")
            )
        max_aliases = int(task_settings.graphql_max_aliases)
        aliases = sum(_aliases(d) for d in node.definitions)
        if aliases > max_aliases:
            self.report_error(_limit_error(f"The document uses more than {max_aliases} aliases", "graphql_max_aliases"))
        counter = _FieldCounter(fragments)
        max_fields = int(task_settings.graphql_max_fields)
        max_mutations = int(task_settings.graphql_max_mutations)
        for operation in operations:
            label = f"Operation {operation.name.value!r}" if operation.name else "The operation"
            if counter.count(operation.selection_set) > max_fields:
                self.report_error(_limit_error(f"{label} selects more than {max_fields} fields", "graphql_max_fields"))
            mutation = operation.operation == OperationType.MUTATION
            if mutation and counter.root_fields(operation.selection_set) > max_mutations:
                self.report_error(
                    _limit_error(f"{label} runs more than {max_mutations} mutations", "graphql_max_mutations")
                )
        return SKIP  # everything was counted from the document node


def _depth_rule() -> type[ASTValidationRule]:
    rule: type[ASTValidationRule] = depth_limit_validator(max_depth=int(task_settings.graphql_max_depth))
    return rule


def validation_rules() -> tuple[type[ASTValidationRule], ...]:
    """graphql-core's standard rules plus the cost limits, with the current settings.

    For ``validate(schema, document, rules=validation_rules())`` or graphene-django's
    ``GraphQLView.as_view(validation_rules=validation_rules())``.
    """
    return (*specified_rules, _depth_rule(), CostLimitsRule)
