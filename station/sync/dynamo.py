"""boto3 sessions and DynamoDB clients for the station, made from ``[cloud]`` in station.ini.

One place decides how the station talks to DynamoDB:

* **Credentials** come from boto3's standard chain only: the profile named by
  ``[cloud] profile`` (``~/.aws/credentials`` / ``~/.aws/config``, SSO included), else the
  environment, else an instance or container role. No secret is ever read from
  station.ini; :func:`refuse_secrets_in_ini` rejects a file that holds one.
* **Endpoint**: ``[cloud] endpoint_url`` when set (DynamoDB Local, the loopback server of
  :mod:`station.sync.local_server`); otherwise nothing is passed and boto3 applies its own rules,
  so the standard ``AWS_ENDPOINT_URL_DYNAMODB`` (or ``AWS_ENDPOINT_URL``) environment
  variable and the ``endpoint_url`` of the AWS profile work as everywhere else.
* **Timeouts and retries**: short connect/read timeouts, botocore's ``standard`` retry mode
  with few attempts (not ``adaptive``: its client-side rate limiter made throttled syncs
  4-5x slower); :mod:`station.sync.engine` adds its own jittered backoff across a run on top.

boto3 is imported lazily, so commands that never talk to the cloud (a no-op sync, status)
do not pay for importing it.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from station.config import CloudConfig
from station.errors import ConfigError, StationError

if TYPE_CHECKING:  # pragma: no cover
    import boto3

__all__ = [
    "ENDPOINT_ENV",
    "SECRET_KEYS",
    "ClientSettings",
    "SyncError",
    "classify_error",
    "error_code",
    "describe_endpoint",
    "make_client",
    "make_session",
    "refuse_secrets_in_ini",
    "validate_endpoint_url",
]

ENDPOINT_ENV = "AWS_ENDPOINT_URL_DYNAMODB"
"""boto3's standard per-service endpoint variable; honoured when ``[cloud] endpoint_url``
is empty (boto3 reads it itself)."""

SECRET_KEYS = frozenset(
    {
        "aws_secret_access_key",
        "aws_access_key_id",
        "aws_session_token",
        "aws_security_token",
        "secret_access_key",
        "access_key_id",
        "session_token",
    }
)
"""Keys that hold (or go with) AWS credentials; none may appear in station.ini."""


class SyncError(StationError):
    """A sync problem with a stable code. ``permanent`` errors need a person to fix something
    (config, credentials, the table); the others go away by themselves (network, throttling).
    ``report`` is the :class:`station.sync.engine.SyncReport` of the run it ended, when there was one.
    """

    code = "SYNC_ERROR"
    hint = "See the station log for details."

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        permanent: bool = True,
        report: Any = None,
    ) -> None:
        super().__init__(message, code=code, hint=hint)
        self.permanent = permanent
        self.report = report


@dataclass(frozen=True)
class ClientSettings:
    """How the DynamoDB client behaves. ``max_pool_connections`` should be at least the
    number of sync workers (boto3 clients are thread-safe and share this pool)."""

    max_pool_connections: int = 32
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_attempts: int = 3
    """botocore's ``total_max_attempts`` per request (1 = no botocore retry)."""
    retry_mode: str = "standard"
    """``standard`` (the sync backs off on its own; ``adaptive``'s client-side rate limiter
    made a throttled sync 4-5x slower in the flaky-cloud campaign) or ``adaptive``."""


# -- station.ini hygiene ---------------------------------------------------------------


def refuse_secrets_in_ini(path: str | os.PathLike[str]) -> None:
    """Raise :class:`ConfigError` (``CONFIG_SECRET_IN_INI``) if station.ini holds an AWS key.

    ``station.config`` does not read such keys, so they would be silently ignored while
    sitting on disk in plain text; refusing makes someone remove (and rotate) them. The
    message names the section and key, never the value.
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error, UnicodeDecodeError):
        return  # load_config already reported (or will report) an unreadable file
    for section in parser.sections():
        for key in parser.options(section):
            if key.strip().lower() in SECRET_KEYS:
                raise ConfigError(
                    f"[{section}] {key} in {path}: AWS credentials must never be stored in "
                    "station.ini",
                    code="CONFIG_SECRET_IN_INI",
                    hint="Delete that line and rotate the key (it has been on disk in plain "
                    "text). Give the station credentials through an AWS profile named in "
                    "[cloud] profile, environment variables, or an instance role.",
                )


# -- endpoint ----------------------------------------------------------------------------


def validate_endpoint_url(url: str, *, origin: str = "[cloud] endpoint_url") -> str:
    """Return ``url`` stripped if it is an ``http(s)://host[:port]`` URL, else raise
    :class:`SyncError` ``SYNC_ENDPOINT_INVALID`` (permanent)."""
    text = url.strip()
    try:
        parts = urlsplit(text)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise SyncError(
            f"{origin} {text!r} is not a valid endpoint URL",
            code="SYNC_ENDPOINT_INVALID",
            hint="Use a URL like http://127.0.0.1:8000 (a local endpoint) or leave it empty "
            "to use AWS.",
        )
    return text


def configured_endpoint(cloud: CloudConfig) -> tuple[str | None, str]:
    """The endpoint the client will use and where it comes from (for messages)."""
    if cloud.endpoint_url:
        return cloud.endpoint_url.strip(), "[cloud] endpoint_url"
    for name in (ENDPOINT_ENV, "AWS_ENDPOINT_URL"):
        value = os.environ.get(name, "").strip()
        if value and os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() != "true":
            return value, name
    return None, "AWS"


LOOPBACK_PLACEHOLDER = "loopback-emulator"


def is_loopback(url: str) -> bool:
    """True for an endpoint on this PC (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def describe_endpoint(cloud: CloudConfig) -> str:
    url, origin = configured_endpoint(cloud)
    if url is None:
        return f"AWS DynamoDB ({cloud.region or 'region from the AWS config'})"
    return f"{url} (from {origin})"


# -- session and client ----------------------------------------------------------------


def make_session(cloud: CloudConfig) -> boto3.session.Session:
    """A boto3 session for ``[cloud]``: its profile (if any) and region (if any)."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    try:
        return boto3.session.Session(
            profile_name=cloud.profile or None, region_name=cloud.region or None
        )
    except ProfileNotFound:
        raise SyncError(
            f"the AWS profile {cloud.profile!r} named in [cloud] profile does not exist",
            code="SYNC_PROFILE_MISSING",
            hint="Create it (aws configure --profile NAME, or aws configure sso) or fix the "
            "name in station.ini.",
        ) from None


def make_client(
    cloud: CloudConfig,
    *,
    settings: ClientSettings | None = None,
    session: Any = None,
) -> Any:
    """A thread-safe DynamoDB client for ``[cloud]``.

    ``[cloud] endpoint_url`` is passed when set; otherwise no endpoint is passed, so boto3
    honours ``AWS_ENDPOINT_URL_DYNAMODB`` itself (it is still validated here so a typo gives
    a clear error). Raises :class:`SyncError` (permanent) for a bad endpoint URL, a missing
    profile or no region.
    """
    from botocore.config import Config
    from botocore.exceptions import NoRegionError

    settings = settings or ClientSettings()
    kwargs: dict[str, Any] = {}
    url, origin = configured_endpoint(cloud)
    if url is not None:
        url = validate_endpoint_url(url, origin=origin)
        if cloud.endpoint_url:
            kwargs["endpoint_url"] = url
    config = Config(
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        max_pool_connections=settings.max_pool_connections,
        retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
        user_agent_extra="provisioning-station-sync",
    )
    session = session or make_session(cloud)
    if url is not None and is_loopback(url) and session.get_credentials() is None:
        # A DynamoDB-compatible emulator on this PC (the demo's) wants a signature but checks
        # no credentials; AWS is never on loopback, so placeholders can reach nothing real.
        kwargs.update(aws_access_key_id=LOOPBACK_PLACEHOLDER, aws_secret_access_key=LOOPBACK_PLACEHOLDER)
        if "endpoint_url" not in kwargs:
            kwargs["endpoint_url"] = url
    try:
        return session.client("dynamodb", config=config, **kwargs)
    except NoRegionError:
        raise SyncError(
            "no AWS region is configured for the sync",
            code="SYNC_NO_REGION",
            hint="Set [cloud] region in station.ini (e.g. eu-west-1), or a region in the "
            "AWS profile or AWS_REGION.",
        ) from None
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise SyncError(
            f"{origin} {url!r} is not usable: {exc}",
            code="SYNC_ENDPOINT_INVALID",
            hint="Use a URL like http://127.0.0.1:8000 or leave it empty to use AWS.",
        ) from None


# -- the error table: what a DynamoDB failure means for a sync ----------------------------

THROTTLING_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "Throttling",
        "TooManyRequestsException",
        "SlowDown",
    }
)
TRANSIENT_CODES = frozenset(
    {
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionConflictException",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
    }
)
BAD_CREDENTIAL_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "ExpiredTokenException",
        "ExpiredToken",
        "InvalidAccessKeyId",
        "AuthFailure",
    }
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied", "NotAuthorized"})


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def _error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "") or exc)


def _http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None) or {}
    try:
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    except (TypeError, ValueError):
        return 0


def classify_error(exc: BaseException, *, table: str, endpoint: str) -> tuple[bool, SyncError]:
    """Turn an exception from a DynamoDB call into ``(throttled, SyncError)``; the error's
    ``permanent`` flag says whether retrying can help."""
    from botocore import exceptions as bx

    credential_errors = tuple(
        cls
        for cls in (
            getattr(bx, name, None)
            for name in (
                "NoCredentialsError",
                "PartialCredentialsError",
                "CredentialRetrievalError",
                "SSOTokenLoadError",
                "UnauthorizedSSOTokenError",
                "TokenRetrievalError",
                "InvalidConfigError",
            )
        )
        if isinstance(cls, type)
    )
    if isinstance(exc, SyncError):
        return False, exc
    if isinstance(exc, bx.ClientError):
        code, message, status = error_code(exc), _error_message(exc), _http_status(exc)
        if code == "ResourceNotFoundException":
            return False, SyncError(
                f"the DynamoDB table {table!r} does not exist at {endpoint}",
                code="SYNC_TABLE_MISSING",
                hint="Create it with `station table create` (or deploy cloud/template.yaml), "
                "or fix [cloud] table and region in station.ini.",
            )
        if code in ACCESS_DENIED_CODES:
            return False, SyncError(
                f"the AWS identity may not write to the table {table!r} ({code}: {message})",
                code="SYNC_ACCESS_DENIED",
                hint="Allow dynamodb:UpdateItem and dynamodb:GetItem on the table for the "
                "station's user or role, or set [cloud] profile to one that has them.",
            )
        if code in BAD_CREDENTIAL_CODES:
            return False, SyncError(
                f"{endpoint} rejected the station's AWS credentials ({code}: {message})",
                code="SYNC_BAD_CREDENTIALS",
                hint="Check the profile in [cloud] profile or the AWS_* environment variables; "
                "refresh expired credentials (e.g. aws sso login) and check the clock.",
            )
        if code in THROTTLING_CODES:
            return True, SyncError(
                f"DynamoDB is throttling the sync ({code})",
                code="SYNC_THROTTLED",
                hint="The rest goes out on the next run; raise the table's capacity if this "
                "keeps happening.",
                permanent=False,
            )
        if code in TRANSIENT_CODES or status >= 500:
            return False, SyncError(
                f"{endpoint} had a server error ({code or status}: {message})",
                code="SYNC_SERVER_ERROR",
                hint="Nothing to do: pending rows go out on the next run.",
                permanent=False,
            )
        return False, SyncError(
            f"DynamoDB rejected the update ({code or status}: {message})",
            code="SYNC_REQUEST_REJECTED",
            hint=f"Check that {table!r} is the allow-list table (partition key serial, a "
            "string); see docs/sync.md.",
        )
    if credential_errors and isinstance(exc, credential_errors):
        return False, SyncError(
            f"no usable AWS credentials for the sync ({type(exc).__name__}: {exc})",
            code="SYNC_NO_CREDENTIALS",
            hint="Name a profile in [cloud] profile (aws configure --profile NAME), set the "
            "AWS_* environment variables, or run where an instance role is available.",
        )
    if isinstance(exc, bx.ProfileNotFound):
        return False, SyncError(
            str(exc), code="SYNC_PROFILE_MISSING", hint="Fix [cloud] profile in station.ini."
        )
    if isinstance(exc, bx.NoRegionError):
        return False, SyncError(
            "no AWS region is configured for the sync",
            code="SYNC_NO_REGION",
            hint="Set [cloud] region in station.ini.",
        )
    if isinstance(exc, bx.ConnectionError | bx.HTTPClientError):
        return False, SyncError(
            f"cannot reach {endpoint} ({type(exc).__name__}: {exc})",
            code="SYNC_ENDPOINT_UNREACHABLE",
            hint="Check the network (or that the local endpoint is running); pending rows go "
            "out on the next run.",
            permanent=False,
        )
    if isinstance(exc, bx.ParamValidationError):
        return False, SyncError(
            f"the sync built an invalid request: {exc}",
            code="SYNC_REQUEST_REJECTED",
            hint="Report this to engineering with the station log.",
        )
    return False, SyncError(
        f"unexpected error while syncing ({type(exc).__name__}: {exc})",
        code="SYNC_INTERNAL_ERROR",
        hint="See the station log and report it to engineering.",
    )
