"""A canonical record's Avro values: decimals go to the serde as the bytes fastavro would make of them."""

from __future__ import annotations

import io
import random
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from processors.canonical import avro_decimal, avro_record
from seamline.schemas import parse, schema_text


def fastavros(value: Decimal, precision: int, scale: int) -> bytes:
    """What fastavro writes for a Decimal in a bytes-decimal field, without its length prefix."""
    schema = {"type": "bytes", "logicalType": "decimal", "precision": precision, "scale": scale}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, value)
    written = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), "bytes", None)
    assert isinstance(written, bytes)
    return written


@pytest.mark.parametrize("scale", [0, 2, 3, 4])
def test_canonical_decimal_text_becomes_the_bytes_fastavro_writes_for_its_decimal(scale: int) -> None:
    rng = random.Random(scale)
    quantum = Decimal(1).scaleb(-scale)
    for _ in range(2000):
        magnitude = rng.choice([0, 1, 9, 10, 127, 128, 255, 256, rng.randrange(10 ** rng.randrange(1, 19))])
        text = str((Decimal(magnitude).scaleb(-scale) * rng.choice([1, -1])).quantize(quantum))
        assert avro_decimal(text, 18, scale) == fastavros(Decimal(text), 18, scale), text


@pytest.mark.parametrize(
    "value", ["1.5", "1.50000", "+1.0000", " 1.0000", "1E+3", "١.٠٠٠٠", ".0000", "1.", "1234567890123456789.0000", 7]
)
def test_any_other_value_goes_on_as_a_decimal_for_the_serde_to_write_or_refuse(value: Any) -> None:
    assert isinstance(avro_decimal(value, 18, 4), Decimal)


def test_an_order_written_with_its_avro_values_reads_back_as_the_decimals_of_its_text() -> None:
    order = {
        "id": "o1",
        "version": 1,
        "order_number": "SO-1",
        "customer_id": None,
        "status": "open",
        "order_date": None,
        "currency": "EUR",
        "total_amount": "-12.5000",
        "lines": [{"line_number": 1, "quantity": "3.000", "unit_price": "0.0500", "amount": None}],
        "deleted": False,
        "xrefs": {"erp": "1"},
        "links": ["erp.sales_order:1"],
        "origin": "erp",
        "updated_at": 1,
        "merged_into": None,
    }
    schema = parse(schema_text("sales_order"))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, avro_record("sales_order", order))
    read = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), schema, None)
    assert isinstance(read, dict)
    assert read["total_amount"] == Decimal("-12.5000")
    assert (read["lines"][0]["quantity"], read["lines"][0]["unit_price"]) == (Decimal("3.000"), Decimal("0.0500"))
