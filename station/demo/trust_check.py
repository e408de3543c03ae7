"""Prove the trust chain end to end, on one PC: the line, the sync, and the cloud's hook.

What AWS IoT does when a board registers is emulated here: a CA (the demo CA, playing
AWS's part) signs the CSR the board makes with its own key, as CreateCertificateFromCsr
would; the board then proves it holds that key by signing its serial and the new
certificate's id, as device firmware does at first boot; and the real pre-provisioning
hook (``cloud/hook.py``) judges the event AWS would send, with explicit settings and a
DynamoDB client, against the tables that ``station sync`` and the administrator filled.
Used by ``station demo`` and by the end-to-end tests.

Besides the genuine boards, every attack of the threat model is played: a clone with the
stolen claim key, a replayed CSR without the device's proof, a lost answer retried, a
second certificate, a wrong claim certificate, rows forged with a stolen AWS credential
(unsigned, or signed by an unregistered key), and one key on two serials.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from cloud import hook
from station.allowlist_item import AllowlistItem, decode_item
from station.demo.material import sign_csr_as_demo_ca
from station.sync.dynamo import LOOPBACK_PLACEHOLDER, is_loopback
from station.sync.signing import RowSigner, create_signing_key

log = logging.getLogger(__name__)

TEMPLATE_ARN = "arn:aws:iot:us-east-1:123456789012:provisioningtemplate/StationFleet"


@dataclass(frozen=True)
class DeviceCertificate:
    """What CreateCertificateFromCsr hands back to a board."""

    serial: str
    pem: str
    certificate_id: str


@dataclass(frozen=True)
class TrustCase:
    name: str
    serial: str
    expected_allow: bool
    allowed: bool
    reason: str
    overrides: dict[str, str]

    @property
    def ok(self) -> bool:
        return self.allowed == self.expected_allow


@dataclass(frozen=True)
class CloudSide:
    """The hook's two tables and where they are."""

    table: str
    stations_table: str
    endpoint_url: str | None
    region: str

    def settings(self, **overrides: Any) -> hook.HookSettings:
        """The hook's settings as its Lambda would have them; the registry is read fresh."""
        base = hook.HookSettings(self.table, self.stations_table, registry_cache_seconds=0.0)
        return replace(base, **overrides)

    def client(self) -> Any:
        """A DynamoDB client with the hook's own timeouts (placeholder credentials for a
        loopback emulator: in Lambda the hook has its role's)."""
        return hook.make_client(**self._client_arguments())

    def writer_client(self) -> Any:
        """A client for the check's own writes (the forged rows and their removal): an
        ordinary one, with botocore's retries and patient timeouts. The hook's are cut to
        fit its 5 s in AWS IoT (0.6 s a read, no retry), which a busy PC running the
        emulator in the same process can miss: a write that is no part of the hook's
        decision must not fail the check for that."""
        from botocore.config import Config

        config = Config(connect_timeout=3, read_timeout=10, retries={"mode": "standard", "total_max_attempts": 3})
        return boto3.session.Session().client("dynamodb", config=config, **self._client_arguments())

    def _client_arguments(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
            if is_loopback(self.endpoint_url) and boto3.session.Session().get_credentials() is None:
                kwargs.update(aws_access_key_id=LOOPBACK_PLACEHOLDER,
                              aws_secret_access_key=LOOPBACK_PLACEHOLDER)
        return kwargs


def board_csr(serial: str, device_key: Any) -> bytes:
    """The CSR a board sends to AWS IoT in the field, signed with its own key."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, serial)]))
        .sign(device_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.DER)
    )


def issue_certificate(serial: str, csr_der: bytes, ca_cert: Path, ca_key: Path) -> DeviceCertificate:
    """Emulate CreateCertificateFromCsr: the certificate id is the SHA-256 of the certificate's DER."""
    pem = sign_csr_as_demo_ca(csr_der, ca_cert, ca_key)
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return DeviceCertificate(serial, pem.decode(), hashlib.sha256(der).hexdigest())


def device_signature(device_key: Any, serial: str, certificate_id: str) -> str:
    """The proof of possession a device sends as the ``DeviceSignature`` template parameter
    (docs/cloud.md): its own key's signature over ``hook.pop_message``."""
    message = hook.pop_message(serial, certificate_id)
    if isinstance(device_key, rsa.RSAPrivateKey):
        signature = device_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    else:
        digest = hashes.SHA384() if device_key.curve.key_size == 384 else hashes.SHA256()
        signature = device_key.sign(message, ec.ECDSA(digest))
    return base64.b64encode(signature).decode("ascii")


def hook_event(
    serial: str,
    certificate: DeviceCertificate,
    *,
    claim_sha256: str,
    device_key: Any = None,
    shape: str = "parameters",
    parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The pre-provisioning hook event AWS IoT sends (either documented shape). With
    ``device_key`` the device's proof of possession is in the template parameters."""
    event: dict[str, Any] = {
        "certificateId": certificate.certificate_id,
        "certificatePem": certificate.pem,
        "templateArn": TEMPLATE_ARN,
    }
    params = {"SerialNumber": serial, **(parameters or {})}
    if device_key is not None:
        params[hook.DEVICE_SIGNATURE_PARAMETER] = device_signature(device_key, serial, certificate.certificate_id)
    if shape == "parameters":
        event.update(claimCertificateId=claim_sha256, clientId=f"provision-{serial}", parameters=params)
    else:
        event.update(claimId=claim_sha256, mqttClientId=f"provision-{serial}", incomingParameters=params)
    return event


def ask_hook(cloud: CloudSide, event: Any, **settings: Any) -> tuple[bool, dict[str, str], str]:
    """Let the hook judge ``event``; its decision line goes to the station log."""
    decision = hook.decide(event, cloud.settings(**settings), dynamodb=cloud.client())
    log.info("hook: %s", decision.log_record())
    return decision.allow, dict(decision.overrides), decision.reason


@dataclass(frozen=True)
class FirstBoot:
    """What a device sends at its first boot when its own software (not our emulation)
    drives fleet provisioning: its CSR file and its template parameters, read back from the
    board (a Greengrass gateway's ``config.yaml``). Such a device sends no proof of
    possession."""

    csr_der: bytes
    template_parameters: dict[str, str]


@dataclass
class TrustChainCheck:
    """The cases of the trust chain, against one cloud side."""

    cloud: CloudSide
    ca_cert: Path
    ca_key: Path
    claim_sha256: str
    signer: RowSigner | None = None
    first_boot: dict[str, FirstBoot] = field(default_factory=dict)
    hook_settings: dict[str, Any] = field(default_factory=dict)
    cases: list[TrustCase] = field(default_factory=list)
    keys: dict[str, Any] = field(default_factory=dict)

    def certificate(self, serial: str, key: Any) -> DeviceCertificate:
        return issue_certificate(serial, board_csr(serial, key), self.ca_cert, self.ca_key)

    def case(self, name: str, serial: str, expect: bool, event: Any) -> TrustCase:
        allowed, overrides, reason = ask_hook(self.cloud, event, **self.hook_settings)
        found = TrustCase(name, serial, expect, allowed, reason, overrides)
        self.cases.append(found)
        return found

    def event(self, serial: str, certificate: DeviceCertificate, key: Any = None, **kwargs: Any) -> dict[str, Any]:
        return hook_event(serial, certificate, claim_sha256=self.claim_sha256, device_key=key, **kwargs)

    def run(self, passed: dict[str, Any], *, revoked: str | None = None,
            unknown_serial: str = "NEVER-MADE-1") -> list[TrustCase]:
        """``passed`` maps each serial that PASSed on the line (and was synced) to its board's
        private key, which only the board holds; ``revoked`` was revoked and synced since."""
        self.cases, self.keys = [], dict(passed)
        genuine = [serial for serial in passed if serial != revoked]
        for index, (serial, key) in enumerate(passed.items()):
            if serial in self.first_boot:
                self._first_boot(serial, key, revoked)
                continue
            certificate = self.certificate(serial, key)
            if index == 0:
                # Someone with the claim key sends the board's (public) CSR first, without the
                # board's proof: refused, and the genuine board still gets in afterwards.
                self.case("replayed CSR without the device's proof", serial, False,
                          self.event(serial, certificate))
            self.case("board made on the line", serial, serial != revoked, self.event(serial, certificate, key))
            if serial == revoked:
                continue
            if index == 0:
                self.case("the answer was lost: same certificate again", serial, True,
                          self.event(serial, certificate, key))
                second = self.certificate(serial, key)
                self.case("a second certificate for a provisioned serial", serial, False,
                          self.event(serial, second, key))
        if genuine:
            self._attacks(genuine[-1], passed[genuine[-1]], unknown_serial)
        return self.cases

    def _first_boot(self, serial: str, key: Any, revoked: str | None) -> None:
        """The device's own first boot: its CSR file signed as CreateCertificateFromCsr would,
        its template parameters as RegisterThing would send them."""
        boot = self.first_boot[serial]
        certificate = issue_certificate(serial, boot.csr_der, self.ca_cert, self.ca_key)
        event = hook_event(serial, certificate, claim_sha256=self.claim_sha256,
                           parameters=boot.template_parameters)
        self.case("first boot with the board's own CSR and config", serial, serial != revoked, event)
        if serial != revoked:
            again = issue_certificate(serial, boot.csr_der, self.ca_cert, self.ca_key)
            self.case("the board's CSR replayed for a second certificate", serial, False,
                      hook_event(serial, again, claim_sha256=self.claim_sha256,
                                 parameters=boot.template_parameters))

    def _attacks(self, serial: str, key: Any, unknown_serial: str) -> None:
        clone_key = ec.generate_private_key(ec.SECP256R1())
        clone = self.certificate(serial, clone_key)
        self.case("clone: right serial, other key pair", serial, False, self.event(serial, clone, clone_key))
        stranger = self.certificate(unknown_serial, clone_key)
        self.case("unknown serial", unknown_serial, False, self.event(unknown_serial, stranger, clone_key))
        self.case("malformed event (bad PEM)", serial, False,
                  {"parameters": {"SerialNumber": serial}, "certificateId": clone.certificate_id,
                   "certificatePem": "not a PEM", "claimCertificateId": self.claim_sha256})
        wrong_claim = hook_event(serial, self.certificate(serial, key), claim_sha256="0" * 64, device_key=key)
        self.case("another claim certificate than the row's", serial, False, wrong_claim)
        self._forged_rows(serial, clone_key)

    def _forged_rows(self, template_serial: str, clone_key: Any) -> None:
        """Rows written with a stolen AWS credential straight into the table (removed again
        afterwards, so the table shows what the line made)."""
        client = self.cloud.writer_client()
        try:
            self._forge(client, template_serial, clone_key)
        finally:
            for serial in ("FORGED-1", "FORGED-2", "TWIN-1"):
                client.delete_item(TableName=self.cloud.table, Key={"serial": {"S": serial}})

    def _forge(self, client: Any, template_serial: str, clone_key: Any) -> None:
        raw = client.get_item(TableName=self.cloud.table, Key={"serial": {"S": template_serial}},
                              ConsistentRead=True).get("Item")
        original = decode_item(raw)
        if original is None:
            return
        clone_sha = _key_sha256(clone_key)
        unsigned = replace(original, serial="FORGED-1", device_key_sha256=clone_sha, rev=1,
                           row_sig=None, signer_key_id=None, provisioned_at=None)
        _put(client, self.cloud.table, unsigned)
        self.case("a row no station signed (stolen AWS credential)", "FORGED-1", False,
                  self.event("FORGED-1", self.certificate("FORGED-1", clone_key), clone_key))
        with tempfile.TemporaryDirectory(prefix="rogue-station-") as folder:
            rogue = create_signing_key(Path(folder) / "key.pem", original.station_id)
        signed_by_rogue = rogue.sign(replace(unsigned, serial="FORGED-2"))
        _put(client, self.cloud.table, signed_by_rogue)
        self.case("a row signed by an unregistered key", "FORGED-2", False,
                  self.event("FORGED-2", self.certificate("FORGED-2", clone_key), clone_key))
        if self.signer is not None:
            twin = self.signer.sign(replace(original, serial="TWIN-1", rev=1, row_sig=None,
                                            signer_key_id=None, provisioned_at=None))
            _put(client, self.cloud.table, twin)
            twin_key = self.keys.get(template_serial)
            if twin_key is not None:
                self.case("one device key on two serials", "TWIN-1", False,
                          self.event("TWIN-1", self.certificate("TWIN-1", twin_key), twin_key))

def _key_sha256(key: Any) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _put(client: Any, table: str, item: AllowlistItem) -> None:
    """An unconditional write of every station attribute: what a stolen credential can do."""
    request = item.update_request(table, "attribute_not_exists(#serial) OR attribute_exists(#serial)")
    request.pop("ReturnValuesOnConditionCheckFailure")
    client.update_item(**request)


def check_trust_chain(
    passed: dict[str, Any],
    *,
    cloud: CloudSide,
    ca_cert: Path,
    ca_key: Path,
    claim_sha256: str,
    signer: RowSigner | None = None,
    revoked: str | None = None,
    unknown_serial: str = "NEVER-MADE-1",
    first_boot: dict[str, FirstBoot] | None = None,
    **hook_settings: Any,
) -> list[TrustCase]:
    """Run every case of the trust chain against the hook; see :class:`TrustChainCheck`.
    ``hook_settings`` change the hook's settings for every case (e.g. a gateway template
    whose devices send no proof of possession)."""
    check = TrustChainCheck(cloud, ca_cert, ca_key, claim_sha256, signer, first_boot or {}, hook_settings)
    return check.run(passed, revoked=revoked, unknown_serial=unknown_serial)
