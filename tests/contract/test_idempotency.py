"""IdempotencyStore contract: claim, lease, takeover, complete, release, one winner of a race."""

from __future__ import annotations

import threading
import uuid

from shared.ports import ClaimState, IdempotencyStore

NOW = 1_800_000_000.0


def _key(consumer: str = "thumbnailer") -> str:
    return f"{consumer}:{uuid.uuid4()}"


def test_a_live_lease_blocks_and_an_expired_one_is_taken_over(
    idempotency_store: IdempotencyStore,
) -> None:
    key = _key()
    assert idempotency_store.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    # a concurrent delivery while the first attempt runs: retry later
    assert idempotency_store.claim(key, now=NOW + 30, lease_seconds=60) is ClaimState.IN_PROGRESS
    # the first attempt crashed without releasing: after the lease, a retry takes over ...
    assert idempotency_store.claim(key, now=NOW + 61, lease_seconds=60) is ClaimState.ACQUIRED
    # ... and holds a new lease of its own
    assert idempotency_store.claim(key, now=NOW + 62, lease_seconds=60) is ClaimState.IN_PROGRESS
    assert idempotency_store.claim(key, now=NOW + 122, lease_seconds=60) is ClaimState.ACQUIRED


def test_completed_is_final_and_a_release_never_undoes_it(
    idempotency_store: IdempotencyStore,
) -> None:
    key = _key("notifier")
    assert idempotency_store.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency_store.complete(key, now=NOW + 1, ttl_seconds=3600)
    for later in (NOW + 2, NOW + 61, NOW + 3000):  # within the TTL, past the lease
        assert idempotency_store.claim(key, now=later, lease_seconds=60) is ClaimState.COMPLETED
    idempotency_store.release(key)
    assert idempotency_store.claim(key, now=NOW + 3, lease_seconds=60) is ClaimState.COMPLETED


def test_release_frees_an_in_progress_claim_at_once(idempotency_store: IdempotencyStore) -> None:
    key = _key("payments")
    assert idempotency_store.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency_store.release(key)
    assert idempotency_store.claim(key, now=NOW + 1, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency_store.release(_key())  # never claimed: no error


def test_keys_are_independent(idempotency_store: IdempotencyStore) -> None:
    event_id = str(uuid.uuid4())
    first, second = f"thumbnailer:{event_id}", f"indexer:{event_id}"  # one event, two consumers
    assert idempotency_store.claim(first, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    assert idempotency_store.claim(second, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency_store.complete(first, now=NOW + 1, ttl_seconds=3600)
    assert idempotency_store.claim(second, now=NOW + 2, lease_seconds=60) is ClaimState.IN_PROGRESS


def test_only_one_of_many_concurrent_first_claims_wins(
    racing_idempotency_store: IdempotencyStore,
) -> None:
    key = _key()
    contenders = 6
    results: list[ClaimState | BaseException] = []
    barrier = threading.Barrier(contenders)
    lock = threading.Lock()

    def contend() -> None:
        barrier.wait()
        try:
            outcome: ClaimState | BaseException = racing_idempotency_store.claim(
                key, now=NOW, lease_seconds=60
            )
        except Exception as exc:  # reported by the assertion below
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=contend) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(str(r) for r in results) == sorted(
        [str(ClaimState.ACQUIRED)] + [str(ClaimState.IN_PROGRESS)] * (contenders - 1)
    )


def test_is_completed_only_after_complete(idempotency_store: IdempotencyStore) -> None:
    key = _key("notifier")
    assert not idempotency_store.is_completed(key)  # never claimed
    idempotency_store.claim(key, now=NOW, lease_seconds=60)
    assert not idempotency_store.is_completed(key)  # in progress
    idempotency_store.complete(key, now=NOW + 1, ttl_seconds=3600)
    assert idempotency_store.is_completed(key)
    idempotency_store.release(key)
    assert idempotency_store.is_completed(key)
    assert not idempotency_store.is_completed(_key("notifier"))
