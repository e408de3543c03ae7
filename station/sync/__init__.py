"""Sending the allow-list to DynamoDB: the sync engine, the DynamoDB client with its
error table, and the loopback DynamoDB-compatible server used by the demo and tests.
The item format itself belongs to :mod:`station.allowlist_item`."""
