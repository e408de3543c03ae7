"""Opening a batch: the station refuses a batch or product name the cloud would refuse,
before any board is provisioned into it."""

from __future__ import annotations

from records import Batch, Records
from station.allowlist_item import check_batch, check_product


def open_batch(records: Records, batch_id: str, product: str, planned: int, actor: str) -> Batch:
    """Open ``batch_id`` for ``product`` (see :meth:`records.Records.open_batch`); raises
    :class:`station.allowlist_item.ItemRuleError` (``BATCH_INVALID``, ``PRODUCT_INVALID``)
    for a name the hook would refuse."""
    check_batch(batch_id)
    check_product(product)
    return records.open_batch(batch_id, product, planned, actor)
