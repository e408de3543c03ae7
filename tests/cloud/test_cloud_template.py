"""cloud/template.yaml: cfn-lint clean, least privilege shown by evaluating its policies."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from iam_eval import Request, allowed, identity_statements

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


# ----------------------------------------------------------------- tables


def test_allowlist_table_matches_the_contract(resources):
    table = resources["AllowListTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "serial", "KeyType": "HASH"}]
    types = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert types == {"serial": "S", "batch": "S", "device_key_sha256": "S"}
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert indexes["batch-index"]["KeySchema"] == [{"AttributeName": "batch", "KeyType": "HASH"}]
    assert indexes["batch-index"]["Projection"] == {"ProjectionType": "ALL"}
    assert indexes["device-key-index"]["KeySchema"] == [
        {"AttributeName": "device_key_sha256", "KeyType": "HASH"}
    ]
    assert indexes["device-key-index"]["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_station_registry_table_matches_the_contract(resources):
    props = resources["StationsTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "key_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "key_id", "AttributeType": "S"}]
    assert props["TableName"] == {"Ref": "StationsTableName"}


@pytest.mark.parametrize("name", ["AllowListTable", "StationsTable"])
def test_tables_cannot_be_deleted_by_accident(resources, name):
    table = resources[name]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


# ----------------------------------------------------------------- functions


def test_hook_function(resources, packaged_cloud):
    fn = resources["HookFunction"]["Properties"]
    assert fn["Runtime"] == "python3.12"
    assert fn["Handler"] == "cloud.hook.handler"
    assert fn["Timeout"] <= 5
    assert fn["MemorySize"] <= 256
    assert fn["Code"] == {"S3Bucket": {"Ref": "CodeS3Bucket"}, "S3Key": {"Ref": "CodeS3Key"}}
    env = fn["Environment"]["Variables"]
    assert env["TABLE_NAME"] == {"Ref": "AllowListTable"}
    assert env["STATIONS_TABLE_NAME"] == {"Ref": "StationsTable"}
    assert env["REQUIRE_DEVICE_SIGNATURE"] == {"Ref": "RequireDeviceSignature"}
    assert set(env) <= {
        "TABLE_NAME", "STATIONS_TABLE_NAME", "SERIAL_PARAMETER", "THING_NAME_PREFIX",
        "ALLOW_REPROVISION", "REQUIRE_DEVICE_SIGNATURE",
    }
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": "HookLogGroup"}
    # The handler exists in the zip that is deployed.
    assert callable(packaged_cloud.hook.handler)


def test_revoker_reads_the_allowlist_stream(resources, packaged_cloud):
    fn = resources["RevokerFunction"]["Properties"]
    assert fn["Handler"] == "cloud.revoker.handler"
    assert fn["Code"] == resources["HookFunction"]["Properties"]["Code"]  # one zip
    mapping = resources["RevokerStream"]["Properties"]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["AllowListTable", "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["FunctionName"] == {"Ref": "RevokerFunction"}
    assert callable(packaged_cloud.revoker.handler)


def test_only_iot_from_this_account_and_template_may_invoke_the_hook(resources):
    permission = resources["HookInvokePermission"]["Properties"]
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["Principal"] == "iot.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["HookFunction", "Arn"]}
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert _sub_text(permission["SourceArn"]).endswith(":provisioningtemplate/${TemplateName}")


# ----------------------------------------------------------------- provisioning


def test_provisioning_role_trusts_only_this_account_and_template(resources):
    role = resources["ProvisioningRole"]["Properties"]
    (trust,) = _statements(role["AssumeRolePolicyDocument"])
    assert trust["Principal"] == {"Service": "iot.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = _sub_text(trust["Condition"]["ArnLike"]["aws:SourceArn"])
    assert source.endswith(":provisioningtemplate/${TemplateName}")
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
    assert {"SerialNumber", "DeviceSignature", "ThingName", "AWS::IoT::Certificate::Id"} <= set(
        body["Parameters"]
    )
    assert "Default" not in body["Parameters"]["ThingName"]  # only the hook's override names it
    things = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Thing"]
    certs = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Certificate"]
    policies = [r for r in body["Resources"].values() if r["Type"] == "AWS::IoT::Policy"]
    assert [t["Properties"]["ThingName"] for t in things] == [{"Ref": "ThingName"}]
    assert [c["Properties"]["CertificateId"] for c in certs] == [
        {"Ref": "AWS::IoT::Certificate::Id"}
    ]
    assert [p["Properties"]["PolicyName"] for p in policies] == ["device-policy"]


def test_claim_policy_only_reaches_provisioning_topics_with_a_reserved_client_id(resources):
    from cloud.hook import CLAIM_CLIENT_PREFIX

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
            assert [arn.split(":client/", 1)[1] for arn in arns] == [f"{CLAIM_CLIENT_PREFIX}*"]
        elif actions <= {"iot:Publish", "iot:Receive"}:
            assert sorted(arn.split(":topic/", 1)[1] for arn in arns) == sorted(allowed_topics)
        elif actions == {"iot:Subscribe"}:
            assert sorted(arn.split(":topicfilter/", 1)[1] for arn in arns) == sorted(
                allowed_topics
            )
        else:
            pytest.fail(f"unexpected claim policy actions {actions}")
    assert seen == {"iot:Connect", "iot:Publish", "iot:Receive", "iot:Subscribe"}


def test_device_policy_needs_the_certificate_attached_to_the_thing(resources):
    statements = _statements(resources["DevicePolicy"]["Properties"]["PolicyDocument"])
    for statement in statements:
        assert statement["Condition"] == {"Bool": {"iot:Connection.Thing.IsAttached": "true"}}
    (connect,) = [s for s in statements if s["Action"] == "iot:Connect"]
    assert _sub_text(connect["Resource"]).endswith(":client/${!iot:Connection.Thing.ThingName}")


# ----------------------------------------------------------------- IAM as data

SIGNED = ("serial", "status", "batch", "product", "station_id", "device_key_sha256",
          "claim_cert_sha256", "factory_at", "rev", "row_sig", "signer_key_id")
HOOK_OWN = ("provisioned_at", "certificate_id", "thing_name")
WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
          "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate",
          "dynamodb:PartiQLDelete", "dynamodb:DeleteTable", "dynamodb:UpdateTable",
          "dynamodb:TransactWriteItems", "dynamodb:RestoreTableFromBackup")


@pytest.fixture(scope="module")
def principals(resources) -> dict[str, list[dict[str, Any]]]:
    return {
        "station": identity_statements(resources["StationPolicy"]),
        "hook": identity_statements(resources["HookRole"]),
        "revoker": identity_statements(resources["RevokerRole"]),
    }


def _update(attributes, return_values=None, resource="AllowListTable") -> Request:
    return Request("dynamodb:UpdateItem", resource, frozenset(("serial", *attributes)), return_values)


def test_the_station_writes_its_signed_attributes(principals):
    assert allowed(principals["station"], _update(SIGNED))
    assert allowed(principals["station"], _update(SIGNED, "NONE"))


@pytest.mark.parametrize("attribute", HOOK_OWN)
def test_the_station_cannot_write_a_hook_attribute(principals, attribute):
    assert not allowed(principals["station"], _update((*SIGNED, attribute)))
    assert not allowed(principals["station"], _update((attribute,)))


@pytest.mark.parametrize("return_values", ["ALL_OLD", "ALL_NEW", "UPDATED_NEW"])
def test_the_station_cannot_read_through_return_values(principals, return_values):
    assert not allowed(principals["station"], _update(SIGNED, return_values))


@pytest.mark.parametrize("action", [a for a in WRITES if a != "dynamodb:UpdateItem"])
def test_the_station_cannot_put_delete_or_batch_rows(principals, action):
    assert not allowed(principals["station"], Request(action, "AllowListTable"))


def test_the_station_reads_rows_and_both_indexes_only(principals):
    station = principals["station"]
    assert allowed(station, Request("dynamodb:GetItem", "AllowListTable"))
    assert allowed(station, Request("dynamodb:Query", "AllowListTable/index/batch-index"))
    assert allowed(station, Request("dynamodb:Query", "AllowListTable/index/device-key-index"))
    assert not allowed(station, Request("dynamodb:Scan", "AllowListTable"))
    assert not allowed(station, Request("dynamodb:Query", "AllowListTable"))


def test_the_hook_writes_only_its_own_attributes(principals):
    hook = principals["hook"]
    assert allowed(hook, _update(HOOK_OWN, "NONE"))
    for attribute in SIGNED[1:]:
        assert not allowed(hook, _update((*HOOK_OWN, attribute))), attribute
    assert not allowed(hook, _update(HOOK_OWN, "ALL_NEW"))
    assert not allowed(hook, Request("dynamodb:PutItem", "AllowListTable"))
    assert not allowed(hook, Request("dynamodb:DeleteItem", "AllowListTable"))


def test_the_hook_reads_what_it_judges_with(principals):
    hook = principals["hook"]
    assert allowed(hook, Request("dynamodb:GetItem", "AllowListTable"))
    assert allowed(hook, Request("dynamodb:GetItem", "StationsTable"))
    assert allowed(hook, Request("dynamodb:Query", "AllowListTable/index/device-key-index"))
    assert not allowed(hook, Request("dynamodb:Query", "AllowListTable/index/batch-index"))
    assert not allowed(hook, Request("dynamodb:Scan", "AllowListTable"))


@pytest.mark.parametrize("action", WRITES)
def test_nobody_in_the_stack_writes_the_station_registry(principals, action):
    for name, statements in principals.items():
        request = Request(action, "StationsTable", frozenset({"key_id", "status", "public_key"}))
        assert not allowed(statements, request), name


def test_the_revoker_deactivates_certificates_and_reads_the_stream_only(principals):
    revoker = principals["revoker"]
    assert allowed(revoker, Request("iot:UpdateCertificate", "iot:cert/" + "a" * 64))
    assert allowed(revoker, Request("dynamodb:GetRecords", "AllowListTable/stream"))
    assert not allowed(revoker, Request("iot:DeleteCertificate", "iot:cert/" + "a" * 64))
    for action in WRITES:
        assert not allowed(revoker, Request(action, "AllowListTable"))


def test_the_evaluator_is_not_vacuous():
    everything = [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Fn::GetAtt": ["StationsTable", "Arn"]}}]
    assert allowed(everything, Request("dynamodb:PutItem", "StationsTable"))
    denied = [*everything, {"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"}]
    assert not allowed(denied, Request("dynamodb:PutItem", "StationsTable"))
    odd = [{"Effect": "Allow", "Action": "x:Y", "Resource": "*", "Condition": {"DateLessThan": {"a": "b"}}}]
    with pytest.raises(ValueError):
        allowed(odd, Request("x:Y", "r"))


def test_no_deny_lists_anywhere(principals):
    for name, statements in principals.items():
        assert all(s["Effect"] == "Allow" for s in statements), name


def test_no_iam_wildcards(resources):
    for name, resource in resources.items():
        if resource["Type"] not in {"AWS::IAM::Role", "AWS::IAM::ManagedPolicy"}:
            continue
        for statement in identity_statements(resource):
            for action in _as_list(statement["Action"]):
                assert "*" not in action, (name, action)
            for target in _as_list(statement.get("Resource", [])):
                assert target != "*", name


# ----------------------------------------------------------------- alarms and outputs


def test_alarms_watch_the_deny_rate_errors_and_removals(resources):
    alarms = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"HookDenyRateAlarm", "HookErrorsAlarm", "RevokerErrorsAlarm", "AllowListRemovalsAlarm"} <= set(alarms)
    (rate,) = [m for m in alarms["HookDenyRateAlarm"]["Metrics"] if m.get("ReturnData")]
    assert "denied / (denied + allowed)" in rate["Expression"]
    filters = {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Logs::MetricFilter"}
    assert '$.decision = "deny"' in filters["HookDecisionsDenied"]["FilterPattern"]
    assert '$.change = "REMOVE"' in filters["AllowListRemovals"]["FilterPattern"]


def test_outputs(template):
    outputs = template["Outputs"]
    assert outputs["TableName"]["Value"] == {"Ref": "AllowListTable"}
    assert outputs["StationsTableName"]["Value"] == {"Ref": "StationsTable"}
    assert outputs["ProvisioningTemplateName"]["Value"] == {"Ref": "ProvisioningTemplate"}
    assert outputs["StationPolicyArn"]["Value"] == {"Ref": "StationPolicy"}
