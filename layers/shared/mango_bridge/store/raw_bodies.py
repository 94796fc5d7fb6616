"""Raw notification bodies too big for a DynamoDB item (400 KB), kept whole in S3.

Mango's `json` may be «любой вложенности и размера» (spec p.5): a correctly signed notification over
the item limit is still evidence. Its exact text goes to the raw-body bucket under a content-addressed
key (a redelivery writes the same object again), and the table item references it
(`raw_s3_key`, `raw_bytes`, `raw_sha256`) next to a compact, foldable `json`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from mango_bridge.store.table import client

BUCKET_ENV = "RAW_BUCKET_NAME"

INLINE_LIMIT_BYTES = 300_000
"""Largest `json` kept inline in an item. DynamoDB's limit is 400 KB for the whole item (names and
every attribute); the margin covers the keys, the suffix and the other attributes."""


def too_big_for_an_item(json_text: str) -> bool:
    return len(json_text.encode()) > INLINE_LIMIT_BYTES


@dataclass(frozen=True)
class RawRef:
    """Where a raw body was kept, as the table item records it."""

    bucket: str
    key: str
    size: int
    sha256: str

    def attributes(self) -> dict[str, dict[str, str]]:
        return {
            "raw_s3_key": {"S": f"s3://{self.bucket}/{self.key}"},
            "raw_bytes": {"N": str(self.size)},
            "raw_sha256": {"S": self.sha256},
        }


class RawBodyStore:
    def __init__(self, s3: Any | None = None, bucket: str | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket if bucket is not None else os.environ.get(BUCKET_ENV, "")

    @property
    def enabled(self) -> bool:
        return bool(self._bucket)

    def put(self, tenant: str, suffix: str, json_text: str, kind: str = "notifications") -> RawRef:
        """Store the exact text; the same body always lands on the same key."""
        if not self._bucket:
            raise RuntimeError(f"{BUCKET_ENV} is not set: the ingest function gets it from template.yaml")
        body = json_text.encode()
        digest = hashlib.sha256(body).hexdigest()
        key = f"{kind}/{tenant}/{digest}.json"
        if self._s3 is None:
            self._s3 = client("s3")
        self._s3.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=body,
            ContentType="application/json; charset=utf-8",
            Metadata={"tenant": tenant, "suffix": suffix[:256]},
        )
        return RawRef(self._bucket, key, len(body), digest)

    def get(self, ref: str) -> str:
        """The body behind an `s3://bucket/key` reference (operators and tests; ingest never reads)."""
        bucket, _, key = ref.removeprefix("s3://").partition("/")
        if self._s3 is None:
            self._s3 = client("s3")
        return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
