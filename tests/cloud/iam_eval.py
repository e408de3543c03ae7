"""A small IAM policy evaluator for the template's policies (IAM as data).

It answers "may this principal do this action on this resource, with these DynamoDB
attributes and ReturnValues?" for the statements of cloud/template.yaml: explicit Deny
wins, then any matching Allow, else denied. Resources are compared by the template's
logical names (``AllowListTable``, ``AllowListTable/index/batch-index``,
``StationsTable``, ``AllowListTable/stream``, ``iot:cert/*``...). Condition operators it
does not know make it raise, so a new kind of condition cannot pass unexamined.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    attributes: frozenset[str] = frozenset()
    return_values: str | None = None
    context: dict[str, str] = field(default_factory=dict)

    def values(self, key: str) -> list[str] | None:
        if key == "dynamodb:Attributes":
            return sorted(self.attributes)
        if key == "dynamodb:ReturnValues":
            return None if self.return_values is None else [self.return_values]
        value = self.context.get(key)
        return None if value is None else [value]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


_SUB_REF = re.compile(r"\$\{([A-Za-z0-9]+)\.(Arn|StreamArn)\}")


def resource_name(value: Any) -> str:
    """A template resource expression as a comparable name."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical, attribute = value["Fn::GetAtt"]
        return logical if attribute == "Arn" else f"{logical}/stream"
    if isinstance(value, dict) and "Fn::Sub" in value:
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        text = _SUB_REF.sub(lambda m: m.group(1) if m.group(2) == "Arn" else f"{m.group(1)}/stream", text)
        text = re.sub(r"^arn:\$\{AWS::Partition\}:(\w+):\$\{AWS::Region\}:\$\{AWS::AccountId\}:", r"\1:", text)
        return text
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, str):
        return value
    raise ValueError(f"resource expression not understood: {value!r}")


def _condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    wanted = [str(v) for v in _as_list(expected)]
    got = request.values(key)
    if operator == "ForAllValues:StringEquals":
        return all(v in wanted for v in (got or []))
    if operator == "ForAnyValue:StringEquals":
        return any(v in wanted for v in (got or []))
    if operator == "StringEqualsIfExists":
        return got is None or all(v in wanted for v in got)
    if operator == "StringEquals":
        return got is not None and all(v in wanted for v in got)
    if operator == "Bool":
        return got is not None and [v.lower() for v in got] == [w.lower() for w in wanted]
    raise ValueError(f"condition operator not understood: {operator}")


def _matches(statement: dict[str, Any], request: Request) -> bool:
    actions = [a.lower() for a in _as_list(statement["Action"])]
    if not any(fnmatch.fnmatchcase(request.action.lower(), a) for a in actions):
        return False
    resources = [resource_name(r) for r in _as_list(statement.get("Resource", "*"))]
    if not any(fnmatch.fnmatchcase(request.resource, r) for r in resources):
        return False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in block.items():
            if not _condition_holds(operator, key, expected, request):
                return False
    return True


def allowed(statements: list[dict[str, Any]], request: Request) -> bool:
    matching = [s for s in statements if _matches(s, request)]
    if any(s["Effect"] == "Deny" for s in matching):
        return False
    return any(s["Effect"] == "Allow" for s in matching)


def identity_statements(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Every identity-policy statement of an IAM role or managed policy of the template."""
    props = resource["Properties"]
    documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
    if "PolicyDocument" in props:
        documents.append(props["PolicyDocument"])
    return [s for d in documents for s in _as_list(d["Statement"])]
