"""The dead-letter headers say why, and stay small whatever a library put in its message."""

from seamline.dead_letters.writer import REASON_MAX_CHARS, Failed, dlq_headers, read_headers


def letter(reason: str) -> dict[str, str]:
    failed = Failed("src.erp.customers", 2, 41, b"k", b"v", "SerdeError", reason, event_id="e-1")
    return read_headers(dlq_headers("cleanse", failed))


def test_headers_name_the_stage_the_error_and_the_original_record() -> None:
    headers = letter("bad bytes")
    assert headers["stage"] == "cleanse" and headers["error.class"] == "SerdeError"
    assert headers["error.reason"] == "bad bytes" and headers["event_id"] == "e-1"
    assert (headers["original.topic"], headers["original.partition"], headers["original.offset"]) == (
        "src.erp.customers",
        "2",
        "41",
    )


def test_a_long_reason_is_cut_and_marked() -> None:
    reason = letter("x" * 100_000)["error.reason"]
    assert reason == "x" * REASON_MAX_CHARS + "…"
