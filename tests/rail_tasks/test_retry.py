"""Backoff: a retry never comes earlier than the configured schedule; jitter only adds."""

from __future__ import annotations

import itertools

import pytest

from rail_tasks import Status, TaskExecution
from rail_tasks.retry import JITTER_FRACTION, retry_delay_seconds, scheduled_delay_seconds
from rail_tasks.testing.waiting import wait_for_status
from tests.taskapp import tasks
from tests.taskapp.models import Ledger


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 8, 20])
def test_jitter_never_retries_before_the_schedule_nor_after_the_cap(attempt: int) -> None:
    scheduled = scheduled_delay_seconds(attempt, base=1, backoff=True, cap=60)
    assert scheduled == min(60, 2 ** (attempt - 1))
    delays = [retry_delay_seconds(attempt, base=1, backoff=True, cap=60) for _ in range(2000)]
    assert min(delays) >= scheduled
    assert max(delays) <= min(60, scheduled * (1 + JITTER_FRACTION))
    if scheduled < 60:
        assert max(delays) > scheduled  # there is jitter below the cap


def test_without_backoff_the_delay_is_exact() -> None:
    assert {retry_delay_seconds(n, base=2.5, backoff=False, cap=1) for n in range(1, 5)} == {2.5}
    assert retry_delay_seconds(3, base=0, backoff=True, cap=10) == 0.0


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_measured_gaps_between_attempts_follow_the_schedule() -> None:
    """retry_delay=1 with backoff on the thread backend: attempts start >= 1 s, 2 s, 4 s apart."""
    result = tasks.fails_with_backoff.using(backend="thread").enqueue()
    wait_for_status(result.id, Status.FAILED, timeout=30)
    starts = list(Ledger.objects.filter(execution_id=result.id).order_by("at").values_list("at", flat=True))
    assert len(starts) == 4
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(starts)]
    print("measured gaps:", ", ".join(f"{gap:.3f}s" for gap in gaps))
    for gap, scheduled in zip(gaps, (1, 2, 4), strict=True):
        assert scheduled <= gap <= scheduled * (1 + JITTER_FRACTION) + 1.0  # + scheduling slack
    assert TaskExecution.objects.get(pk=result.id).attempts == 4
