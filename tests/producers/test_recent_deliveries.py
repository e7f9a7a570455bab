"""How a webhook endpoint recognises a delivery it published lately."""

from __future__ import annotations

from producers.webhook.recent_deliveries import RecentDeliveries


def test_a_delivery_is_recognised_within_the_window_and_forgotten_after() -> None:
    recent = RecentDeliveries(window_s=300)
    assert not recent.all_published(["a", "b"], now=0)
    recent.published(["a", "b"], now=0)
    assert recent.all_published(["a", "b"], now=300)
    assert recent.all_published(["b"], now=300)
    assert not recent.all_published(["a", "c"], now=300)  # one change of it is new: publish it
    assert not recent.all_published(["a"], now=301)


def test_nothing_is_recognised_in_an_empty_delivery() -> None:
    assert not RecentDeliveries(window_s=300).all_published([], now=0)


def test_the_oldest_ids_are_forgotten_past_the_capacity() -> None:
    recent = RecentDeliveries(window_s=300, capacity=2)
    recent.published(["a"], now=0)
    recent.published(["b"], now=1)
    recent.published(["a"], now=2)  # published again: now the newest
    recent.published(["c"], now=3)
    assert recent.all_published(["a", "c"], now=3)
    assert not recent.all_published(["b"], now=3)
