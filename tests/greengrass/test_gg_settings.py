"""[greengrass] in station.ini: what it takes, what it refuses, and the config.yaml it makes."""

from __future__ import annotations

import pytest
import yaml
from gg_helpers import BASE_SETTINGS, make_settings

from flashing.greengrass import PLUGIN_NAME, GreengrassSettings, render_config_yaml


def test_the_required_keys_alone_give_the_documented_defaults() -> None:
    settings = make_settings()
    assert settings.root_path == "/greengrass/v2"
    assert settings.serial_parameter == "SerialNumber"
    assert settings.key_type == "ec-p256"
    assert settings.serial_source == "devicetree"
    assert settings.user == "root"


@pytest.mark.parametrize("missing", ["aws_region", "iot_data_endpoint", "iot_credential_endpoint",
                                     "iot_role_alias", "provisioning_template"])
def test_a_missing_required_key_is_named(missing: str) -> None:
    values = {k: v for k, v in BASE_SETTINGS.items() if k != missing}
    with pytest.raises(ValueError, match=rf"\[greengrass\] {missing}: required"):
        GreengrassSettings.from_mapping(values)


def test_an_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"\[greengrass\] root_pth: unknown key"):
        make_settings(root_pth="/x")


def test_a_password_in_station_ini_is_refused() -> None:
    with pytest.raises(ValueError, match="never goes in station.ini"):
        make_settings(password="hunter2")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("claim_private_key_path", "relative/key.pem"),
        ("claim_private_key_path", "/greengrass/v2/my key.pem"),
        ("csr_path", "/greengrass/v2/../etc/csr.pem"),
        ("aws_region", "Europe"),
        ("iot_data_endpoint", "not a host"),
        ("key_type", "ed25519"),
        ("serial_source", "eeprom"),
        ("csr_subject", "CN=evil"),
        ("file_owner", "Root Group"),
        ("max_line", "100000"),
        ("login_seconds", "soon"),
        ("template_parameters", "NoEqualsSign"),
    ],
)
def test_a_bad_value_is_refused_naming_its_key(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=rf"\[greengrass\] {key}"):
        make_settings(**{key: value})


def test_two_settings_naming_the_same_file_are_refused() -> None:
    with pytest.raises(ValueError, match="claim_private_key_path: same file as claim_certificate_path"):
        make_settings(claim_certificate_path="/gg/claim.pem", claim_private_key_path="/gg/claim.pem")


def test_the_serial_parameter_cannot_be_set_by_hand() -> None:
    with pytest.raises(ValueError, match="template_parameters: SerialNumber is the serial parameter"):
        make_settings(template_parameters="SerialNumber=X")


def test_config_yaml_has_the_fleet_provisioning_plugins_shape() -> None:
    settings = make_settings(template_parameters="Batch=B2026-0042, Site=Oslo", nucleus_version="2.14.3",
                             mqtt_port="443")
    config = yaml.safe_load(render_config_yaml(settings, "GW000042"))
    assert config["services"]["aws.greengrass.Nucleus"] == {"version": "2.14.3"}
    plugin = config["services"][PLUGIN_NAME]["configuration"]
    assert plugin == {
        "rootPath": "/greengrass/v2",
        "awsRegion": "eu-west-1",
        "iotDataEndpoint": BASE_SETTINGS["iot_data_endpoint"],
        "iotCredentialEndpoint": BASE_SETTINGS["iot_credential_endpoint"],
        "iotRoleAlias": "GreengrassCoreTokenExchangeRoleAlias",
        "provisioningTemplate": "StationFleetTemplate",
        "claimCertificatePath": settings.claim_certificate_path,
        "claimCertificatePrivateKeyPath": settings.claim_private_key_path,
        "rootCaPath": settings.root_ca_path,
        "csrPath": settings.csr_path,
        "csrPrivateKeyPath": settings.csr_private_key_path,
        "mqttPort": 443,
        "templateParameters": {"SerialNumber": "GW000042", "Batch": "B2026-0042", "Site": "Oslo"},
    }


def test_the_serial_goes_under_the_parameter_name_the_hook_reads() -> None:
    settings = make_settings(serial_parameter="DeviceSerial")
    config = yaml.safe_load(render_config_yaml(settings, "GW000007"))
    assert config["services"][PLUGIN_NAME]["configuration"]["templateParameters"] == {"DeviceSerial": "GW000007"}


def test_the_documented_section_is_valid_and_its_config_yaml_is_the_documented_one() -> None:
    import configparser
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "greengrass.md").read_text()
    ini = re.search(r"```ini\n(\[station\].*?)```", text, re.S)
    documented_yaml = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert ini and documented_yaml
    parser = configparser.ConfigParser()
    parser.read_string(ini[1])
    settings = GreengrassSettings.from_mapping(dict(parser["greengrass"]))
    assert render_config_yaml(settings, "GW000042") == documented_yaml[1]
