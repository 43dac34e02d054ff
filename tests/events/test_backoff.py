"""app.events.backoff: the pauses the consumer and the relay take before reaching Redis or PostgreSQL again."""

from __future__ import annotations

import pytest

from app.events.backoff import Backoff


def test_pauses_double_from_a_tenth_of_a_second_up_to_ten_and_start_over_after_a_success() -> None:
    backoff = Backoff()
    pauses = [backoff.failed() for _ in range(9)]
    assert pauses == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0])
    backoff.succeeded()
    assert backoff.failed() == pytest.approx(0.1)
