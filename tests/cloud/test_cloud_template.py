"""cloud/template.yaml: cfn-lint clean, and least privilege where it matters."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "cloud" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short tags (!Ref, !Sub ...) into long form."""


def _short_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)


@pytest.fixture(scope="module")
def resources(template) -> dict[str, Any]:
    return template["Resources"]


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _statements(policy_document: dict[str, Any]) -> list[dict[str, Any]]:
    return _as_list(policy_document["Statement"])


def _sub_text(value: Any) -> str:
    """The text of a resource written as !Sub "...", or a JSON dump of anything else."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return json.dumps(value)


# ----------------------------------------------------------------- cfn-lint


def _lint(text: str) -> list[Any]:
    from cfnlint.api import ManualArgs, lint

    return lint(text, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))


def test_cfn_lint_reports_nothing():
    matches = _lint(TEMPLATE.read_text(encoding="utf-8"))
    assert matches == [], "\n".join(str(m) for m in matches)


def test_cfn_lint_is_not_vacuous():
    broken = TEMPLATE.read_text(encoding="utf-8").replace("Runtime: python3.12", "Runtime: py")
    assert _lint(broken)


# ----------------------------------------------------------------- table


def test_table_matches_the_contract(resources):
    table = resources["AllowListTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "serial", "KeyType": "HASH"}]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"serial": "S", "batch": "S"}
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "batch-index"
    assert index["KeySchema"] == [{"AttributeName": "batch", "KeyType": "HASH"}]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"


# ----------------------------------------------------------------- hook


def test_hook_function(resources):
    fn = resources["HookFunction"]["Properties"]
    assert fn["Runtime"] == "python3.12"
    assert fn["Handler"] == "hook.handler"
    assert fn["Timeout"] <= 5
    assert fn["MemorySize"] <= 256
    assert fn["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
    env = fn["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": "AllowListTable"}
    assert set(env) <= {"TABLE_NAME", "SERIAL_PARAMETER", "THING_NAME_PREFIX", "ALLOW_REPROVISION"}
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "HookLogGroup"}

    from cloud import hook

    assert callable(getattr(hook, fn["Handler"].split(".", 1)[1]))


def test_hook_role_is_least_privilege(resources):
    role = resources["HookRole"]["Properties"]
    trust = _statements(role["AssumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust] == [{"Service": "lambda.amazonaws.com"}]
    assert "ManagedPolicyArns" not in role
    grants = {}
    for policy in role["Policies"]:
        for statement in _statements(policy["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                grants[action] = statement["Resource"]
    assert grants == {
        "dynamodb:GetItem": {"Fn::GetAtt": ["AllowListTable", "Arn"]},
        "dynamodb:UpdateItem": {"Fn::GetAtt": ["AllowListTable", "Arn"]},
        "logs:CreateLogStream": {"Fn::GetAtt": ["HookLogGroup", "Arn"]},
        "logs:PutLogEvents": {"Fn::GetAtt": ["HookLogGroup", "Arn"]},
    }


def test_only_iot_from_this_account_and_template_may_invoke_the_hook(resources):
    permission = resources["HookInvokePermission"]["Properties"]
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "iot.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["HookFunction", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert _sub_text(permission["SourceArn"]).endswith(":provisioningtemplate/${TemplateName}")


# ----------------------------------------------------------------- provisioning


def test_provisioning_role(resources):
    role = resources["ProvisioningRole"]["Properties"]
    trust = _statements(role["AssumeRolePolicyDocument"])
    assert [s["Principal"] for s in trust] == [{"Service": "iot.amazonaws.com"}]
    (managed,) = role["ManagedPolicyArns"]
    assert _sub_text(managed).endswith(":iam::aws:policy/service-role/AWSIoTThingsRegistration")
    assert "Policies" not in role


def test_provisioning_template(resources):
    tpl = resources["ProvisioningTemplate"]
    props = tpl["Properties"]
    assert props["TemplateName"] == {"Ref": "TemplateName"}
    assert props["ProvisioningRoleArn"] == {"Fn::GetAtt": ["ProvisioningRole", "Arn"]}
    assert props["PreProvisioningHook"]["TargetArn"] == {"Fn::GetAtt": ["HookFunction", "Arn"]}
    assert "HookInvokePermission" in _as_list(tpl["DependsOn"])
    body_text = _sub_text(props["TemplateBody"])
    assert set(re.findall(r"\$\{([^}!]+)\}", body_text)) == {"DevicePolicy"}
    body = json.loads(body_text.replace("${DevicePolicy}", "device-policy"))
    assert {"SerialNumber", "ThingName", "AWS::IoT::Certificate::Id"} <= set(body["Parameters"])
    assert "Default" not in body["Parameters"]["ThingName"]  # only the hook's override names it
    things = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Thing"]
    certs = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Certificate"]
    policies = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Policy"]
    assert [t["Properties"]["ThingName"] for t in things] == [{"Ref": "ThingName"}]
    assert [c["Properties"]["CertificateId"] for c in certs] == [
        {"Ref": "AWS::IoT::Certificate::Id"}
    ]
    assert [p["Properties"]["PolicyName"] for p in policies] == ["device-policy"]


def test_claim_policy_only_reaches_provisioning_topics(resources):
    statements = _statements(resources["ClaimPolicy"]["Properties"]["PolicyDocument"])
    allowed_topics = (
        "$aws/certificates/create-from-csr/*",
        "$aws/provisioning-templates/${TemplateName}/provision/*",
    )
    seen = set()
    for statement in statements:
        assert statement["Effect"] == "Allow"
        actions = set(_as_list(statement["Action"]))
        arns = [_sub_text(r) for r in _as_list(statement["Resource"])]
        seen |= actions
        if actions == {"iot:Connect"}:
            assert all(re.search(r":client/[^/]*$", arn) for arn in arns)
        elif actions <= {"iot:Publish", "iot:Receive"}:
            assert sorted(arn.split(":topic/", 1)[1] for arn in arns) == sorted(allowed_topics)
        elif actions == {"iot:Subscribe"}:
            assert sorted(arn.split(":topicfilter/", 1)[1] for arn in arns) == sorted(
                allowed_topics
            )
        else:
            pytest.fail(f"unexpected claim policy actions {actions}")
    assert seen == {"iot:Connect", "iot:Publish", "iot:Receive", "iot:Subscribe"}


# ----------------------------------------------------------------- station


def test_station_policy_is_least_privilege(resources):
    policy = resources["StationPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    table_arn = {"Fn::GetAtt": ["AllowListTable", "Arn"]}
    allowed: dict[str, list[Any]] = {}
    denies = []
    for statement in _statements(policy["Properties"]["PolicyDocument"]):
        if statement["Effect"] == "Deny":
            denies.append(statement)
            continue
        for action in _as_list(statement["Action"]):
            allowed.setdefault(action, []).extend(_as_list(statement["Resource"]))
    assert set(allowed) == {
        "dynamodb:UpdateItem",
        "dynamodb:GetItem",
        "dynamodb:DescribeTable",
        "dynamodb:Query",
    }
    for action in ("dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DescribeTable"):
        assert allowed[action] == [table_arn]
    assert [_sub_text(r) for r in allowed["dynamodb:Query"]] == [
        "${AllowListTable.Arn}/index/batch-index"
    ]
    # The hook's attributes are the hook's: the station may not write them.
    (deny,) = denies
    assert deny["Action"] == "dynamodb:UpdateItem"
    assert set(deny["Condition"]["ForAnyValue:StringEquals"]["dynamodb:Attributes"]) == {
        "provisioned_at",
        "certificate_id",
        "thing_name",
    }


def test_no_iam_wildcards(resources):
    for name, resource in resources.items():
        if resource["Type"] not in {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}:
            continue
        props = resource["Properties"]
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        if "PolicyDocument" in props:
            documents.append(props["PolicyDocument"])
        for document in documents:
            for statement in _statements(document):
                for action in _as_list(statement["Action"]):
                    assert "*" not in action, (name, action)
                for target in _as_list(statement.get("Resource", [])):
                    assert target != "*", name


def test_outputs(template):
    outputs = template["Outputs"]
    assert outputs["TableName"]["Value"] == {"Ref": "AllowListTable"}
    assert outputs["ProvisioningTemplateName"]["Value"] == {"Ref": "ProvisioningTemplate"}
    assert outputs["StationPolicyArn"]["Value"] == {"Ref": "StationPolicy"}
