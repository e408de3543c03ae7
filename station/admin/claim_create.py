"""``station cloud claim-create``: make the shared claim certificate for a new account.

Run once by whoever administers the AWS account, with their own credentials,
never on a line PC. The IoT API creates the certificate and key; the key is
written straight to a file readable by its owner only and is never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import boto3
import botocore.exceptions
from botocore.config import Config

from station.errors import StationError

CERT_FILE = "claim.cert.pem"
KEY_FILE = "claim.private.key"
ROOT_CA_FILE = "AmazonRootCA1.pem"


@dataclass(frozen=True)
class ClaimCreated:
    certificate_id: str
    certificate_arn: str
    policy_name: str
    certificate: Path
    private_key: Path
    root_ca: Path

    def ini_lines(self) -> str:
        return (
            "[claim]\n"
            f"certificate = {self.certificate}\n"
            f"private_key = {self.private_key}\n"
            f"root_ca = {self.root_ca}\n"
        )


def claim_policy_name(template: str) -> str:
    """The claim policy's name, as cloud/template.yaml names it."""
    return f"{template}-claim"


def amazon_root_ca() -> bytes:
    """Amazon Root CA 1 (public; SHA-256 8ECDE688...98196E), which AWS IoT's TLS endpoints chain to."""
    return resources.files("station.data").joinpath("AmazonRootCA1.pem").read_bytes()


def create_claim(
    template: str,
    out_dir: Path,
    *,
    policy: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> ClaimCreated:
    out_dir = Path(out_dir)
    files = [out_dir / CERT_FILE, out_dir / KEY_FILE]
    existing = [str(f) for f in files if f.exists()]
    if existing:
        raise StationError(
            f"{', '.join(existing)} already exist(s)",
            code="CLAIM_FILES_EXIST",
            hint="Choose another --out folder; claim-create never overwrites claim material.",
        )
    policy_name = policy or claim_policy_name(template)
    client = _iot_client(region, profile, endpoint_url)
    try:
        client.get_policy(policyName=policy_name)
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise StationError(
                f"IoT policy {policy_name!r} does not exist",
                code="CLAIM_POLICY_MISSING",
                hint="Deploy cloud/template.yaml first (it creates <template>-claim), or pass --policy NAME.",
            ) from None
        raise _aws_error(exc) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _aws_error(exc) from None
    try:
        created = client.create_keys_and_certificate(setAsActive=True)
        client.attach_policy(policyName=policy_name, target=created["certificateArn"])
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise _aws_error(exc) from None
    out_dir.mkdir(parents=True, exist_ok=True)
    _write(files[1], created["keyPair"]["PrivateKey"].encode(), 0o600)
    _write(files[0], created["certificatePem"].encode(), 0o644)
    root_ca = out_dir / ROOT_CA_FILE
    if not root_ca.exists():
        _write(root_ca, amazon_root_ca(), 0o644)
    return ClaimCreated(
        certificate_id=created["certificateId"],
        certificate_arn=created["certificateArn"],
        policy_name=policy_name,
        certificate=files[0].resolve(),
        private_key=files[1].resolve(),
        root_ca=root_ca.resolve(),
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte: no moment where a key is world-readable."""
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(handle, data)
    finally:
        os.close(handle)
    if os.name == "posix":
        os.chmod(path, mode)


def _iot_client(region: str | None, profile: str | None, endpoint_url: str | None):  # type: ignore[no-untyped-def]
    try:
        session = boto3.Session(profile_name=profile or None, region_name=region or None)
    except botocore.exceptions.ProfileNotFound:
        raise StationError(f"AWS profile {profile!r} not found", code="AWS_PROFILE_MISSING",
                           hint="Check ~/.aws/config or pass --profile.") from None
    config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=20)
    kwargs = {"endpoint_url": endpoint_url} if endpoint_url else {}
    try:
        return session.client("iot", config=config, **kwargs)
    except botocore.exceptions.NoRegionError:
        raise StationError("no AWS region given", code="AWS_REGION_MISSING",
                           hint="Pass --region or set AWS_REGION / the profile's region.") from None


def _aws_error(exc: Exception) -> StationError:
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return StationError("no AWS credentials found", code="AWS_NO_CREDENTIALS",
                            hint="Run with an administrator's profile (--profile) or credentials in the environment.")
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return StationError(f"AWS IoT refused: {error.get('Code')}: {error.get('Message')}", code="AWS_IOT_ERROR",
                            hint="Check the account, region and that your identity may create IoT certificates.")
    return StationError(f"cannot reach AWS IoT: {exc}", code="AWS_UNREACHABLE",
                        hint="Check the network and --endpoint-url.")
