"""``station report --source cloud``: a batch's report from the DynamoDB allow-list table.

For QA who are not at the station. The table holds one item per unit that **passed** and
was synced (partition key ``serial``; the ``batch-index`` GSI on ``batch``), so the
report is made of a paginated ``Query`` on that index and shows what the cloud can know:
units, revoked, provisioned in AWS IoT (the hook's ``provisioned_at``), stations, claim
certificate fingerprints, PASS times (``factory_at`` = each unit's last PASS) and the
PASS throughput per hour. Everything about attempts (failures, retests, yields, cycle
times, operators, units pending sync) is known only to the station that made the batch:
those fields are ``None`` and listed in :attr:`BatchReport.unavailable`
(:data:`station.reports.data.STATION_ONLY_FIELDS`), and every format says so.

A GSI is eventually consistent: a unit synced a second ago may not be counted yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from records import iso_utc
from station.allowlist_item import BATCH_INDEX, AllowlistItem, query_batch
from station.config import CloudConfig
from station.errors import StationError
from station.reports.data import (
    SCHEMA_VERSION,
    STATION_ONLY_FIELDS,
    BatchReport,
    ClaimCertificate,
    Counts,
    ReportError,
    ReportHeader,
    UnitRow,
    hour_buckets,
    utc_now,
)


def query_batch_items(
    client: Any, table: str, batch_id: str, *, page_size: int | None = None
) -> Iterator[AllowlistItem]:
    """Every item of ``batch_id`` from the batch index, decoded by the item's one owner
    (:mod:`station.allowlist_item`). An item that is not one of the contract is skipped.
    Raises :class:`ReportError` with a ``CLOUD_*`` code when the table cannot be read."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        for item, _raw in query_batch(client, table, batch_id, page_size=page_size):
            if item is not None:
                yield item
    except ClientError as exc:
        raise _client_error(exc, table) from None
    except BotoCoreError as exc:
        raise ReportError(
            f"DynamoDB could not be reached for table {table!r}: {exc}",
            code="CLOUD_UNAVAILABLE",
            hint="Check the network, [cloud] region/endpoint_url and the AWS credentials "
            "(profile, environment or role); then try again.",
        ) from None


def build_cloud_report(
    client: Any,
    table: str,
    batch_id: str,
    *,
    now: Callable[[], datetime] | None = None,
    station_id: str | None = None,
    include_units: bool = True,
    page_size: int | None = None,
) -> BatchReport:
    """The report of ``batch_id`` from the DynamoDB table ``table``.

    Raises :class:`ReportError` ``BATCH_NOT_IN_CLOUD`` when the table holds no unit of the
    batch (the cloud cannot tell an unknown batch from one with nothing synced yet).
    """
    generated_at = iso_utc((now or utc_now)())
    items = list(query_batch_items(client, table, batch_id, page_size=page_size))
    if not items:
        raise ReportError(
            f"DynamoDB table {table!r} holds no unit of batch {batch_id!r}",
            code="BATCH_NOT_IN_CLOUD",
            hint="Check the batch id. Units reach the cloud when they PASS and the station "
            "syncs (station sync); a batch with no synced unit yet is only in the station's "
            "report (station report --batch B on the station).",
        )
    items.sort(key=lambda item: item.serial)
    products = sorted({item.product for item in items})
    stations = sorted({item.station_id for item in items})
    claims = Counter(item.claim_cert_sha256 for item in items)
    factory = sorted(item.factory_at for item in items)
    revoked = sum(1 for item in items if item.status == "revoked")
    provisioned = sum(1 for item in items if item.provisioned_at)
    hourly = Counter(stamp[:13] for stamp in factory)

    header = ReportHeader(
        batch=batch_id,
        product=", ".join(products) or None,
        planned_quantity=None,
        opened_at=None,
        opened_by=None,
        closed_at=None,
        closed_by=None,
        stations=tuple(stations),
        operators=None,
        first_attempt_at=None,
        last_attempt_at=None,
        first_pass_at=factory[0] if factory else None,
        last_pass_at=factory[-1] if factory else None,
        claim_certificates=tuple(
            ClaimCertificate(sha, n)
            for sha, n in sorted(claims.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        generated_at=generated_at,
        generated_by=station_id,
        source="cloud",
        table=table,
    )
    counts = Counts(
        attempts=None,
        attempts_passed=None,
        attempts_failed=None,
        attempts_aborted=None,
        attempts_running=None,
        attempts_without_serial=None,
        units_attempted=None,
        units_passed=len(items) - revoked,
        units_failed=None,
        units_in_progress=None,
        units_retested=None,
        units_first_pass=None,
        allow_list_units=len(items),
        units_revoked=revoked,
        units_pending_sync=None,
        units_synced=len(items),
        first_pass_yield=None,
        final_yield=None,
        attempts_per_unit_mean=None,
        attempts_per_unit_max=None,
        units_provisioned=provisioned,
    )
    units: tuple[UnitRow, ...] = ()
    if include_units:
        units = tuple(
            UnitRow(
                serial=item.serial,
                result="pass",
                attempts=None,
                first_pass=None,
                status=item.status,
                device_key_sha256=item.device_key_sha256,
                first_pass_at=None,
                last_pass_at=item.factory_at,
                operator=None,
                station_id=item.station_id,
                sync_state="synced",
                last_error_code=None,
                provisioned_at=item.provisioned_at,
            )
            for item in items
        )
    notes = (
        f"From the DynamoDB table {table} (index {BATCH_INDEX}, eventually "
        "consistent): only units that passed and were synced are there.",
        "Only the station that made the batch knows the attempts, failures (Pareto), "
        "re-tests, yields, cycle times, operators and units pending sync; they are shown "
        "as n/a. Run `station report --batch B` on that station for them.",
        "Last PASS is each item's factory_at; first PASS is not in the cloud.",
    )
    return BatchReport(
        schema_version=SCHEMA_VERSION,
        header=header,
        counts=counts,
        failures=(),
        cycle_times=None,
        throughput=hour_buckets((hour, None, n) for hour, n in hourly.items()),
        units=units,
        units_included=include_units,
        notes=notes,
        unavailable=STATION_ONLY_FIELDS,
    )


def cloud_report_for_station(
    cloud: CloudConfig,
    batch_id: str,
    *,
    table: str | None = None,
    endpoint_url: str | None = None,
    now: Callable[[], datetime] | None = None,
    station_id: str | None = None,
    include_units: bool = True,
) -> BatchReport:
    """:func:`build_cloud_report` with the client made from ``[cloud]`` in station.ini
    (``table`` and ``endpoint_url`` override it)."""
    from station.sync.dynamo import ClientSettings, make_client

    cloud = replace(
        cloud,
        table=table or cloud.table,
        endpoint_url=endpoint_url or cloud.endpoint_url,
    )
    if not cloud.table:
        raise ReportError(
            "no DynamoDB table is configured",
            code="CLOUD_NOT_CONFIGURED",
            hint="Set [cloud] table in station.ini, or pass --table NAME.",
        )
    try:
        client = make_client(cloud, settings=ClientSettings(max_pool_connections=2))
    except StationError as exc:
        raise ReportError(exc.message, code=exc.code, hint=exc.hint) from None
    try:
        return build_cloud_report(
            client, cloud.table, batch_id, now=now, station_id=station_id,
            include_units=include_units,
        )
    finally:
        client.close()


def _client_error(exc: Any, table: str) -> ReportError:
    error = (getattr(exc, "response", None) or {}).get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", "")) or str(exc)
    if code == "ResourceNotFoundException":
        return ReportError(
            f"DynamoDB table {table!r} does not exist ({message})",
            code="CLOUD_TABLE_MISSING",
            hint="Check [cloud] table and region (or --table); the table is created by "
            "cloud/template.yaml.",
        )
    if code == "ValidationException" and "index" in message.lower():
        return ReportError(
            f"DynamoDB table {table!r} has no usable {BATCH_INDEX!r} index "
            f"({message})",
            code="CLOUD_INDEX_MISSING",
            hint="The allow-list table needs the global secondary index batch-index on "
            "batch (cloud/template.yaml creates it).",
        )
    if code in ("AccessDeniedException", "UnrecognizedClientException",
                "ExpiredTokenException", "InvalidSignatureException"):
        return ReportError(
            f"DynamoDB refused the query on {table!r}: {code}: {message}",
            code="CLOUD_ACCESS_DENIED",
            hint="Use AWS credentials allowed to dynamodb:Query the table and its "
            "batch-index (profile in [cloud] profile, environment, or role).",
        )
    return ReportError(
        f"DynamoDB query on {table!r} failed: {code or type(exc).__name__}: {message}",
        code="CLOUD_UNAVAILABLE",
        hint="Try again; if it persists, check the table in the AWS console.",
    )


