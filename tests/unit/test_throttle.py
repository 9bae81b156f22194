"""The abuse limits: the failure window, the sign-in guard, the hashing gate, and the
password sign-in refusing before it hashes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cryptography.fernet import Fernet

import mrsjobs.identity.accounts
from mrsjobs.domain.errors import AuthenticationFailed, TooManyRequests
from mrsjobs.identity.accounts import Accounts
from mrsjobs.identity.crypto import SecretBox
from mrsjobs.identity.throttle import BoundedPool, FailureWindow, Limits, SignInGuard
from tests.support.waiting import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_refused_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    window = FailureWindow(3, 10.0, clock=clock)
    for _ in range(2):
        window.fail("a")
        clock.now += 1
    assert window.retry_after("a") == 0
    window.fail("a")  # failures at 1000, 1001, 1002
    assert window.retry_after("a") == pytest.approx(8.0)
    assert window.retry_after("b") == 0
    clock.now = 1010.0  # the first failure has left the window: two remain
    assert window.retry_after("a") == 0
    window.fail("a")  # 1001, 1002, 1010
    assert window.retry_after("a") == pytest.approx(1.0)
    window.forget("a")
    assert window.retry_after("a") == 0


def test_the_window_keeps_a_bounded_number_of_keys_the_stalest_go_first() -> None:
    clock = Clock()
    window = FailureWindow(1, 60.0, max_keys=3, clock=clock)
    for key in "abcd":
        window.fail(key)
        clock.now += 1
    assert len(window) == 3
    assert window.retry_after("a") == 0  # forgotten
    assert all(window.retry_after(k) > 0 for k in "bcd")
    window.fail("b")  # b is now the freshest: c goes next
    window.fail("e")
    assert window.retry_after("c") == 0 and window.retry_after("b") > 0
    clock.now += 120  # all expired: the next failure sweeps them
    window.fail("f")
    assert len(window) == 1


def test_a_limit_of_zero_never_refuses() -> None:
    window = FailureWindow(0, 60.0)
    for _ in range(100):
        window.fail("a")
    assert window.retry_after("a") == 0 and len(window) == 0


def test_the_guard_refuses_by_source_or_subject_and_a_success_clears_only_the_subject() -> None:
    clock = Clock()
    guard = SignInGuard(Limits(signin_failures=2, signin_window_s=30), clock)
    guard.failed("10.0.0.1", "user:bob")
    guard.failed("10.0.0.2", "user:bob")
    with pytest.raises(TooManyRequests) as info:
        guard.check("10.0.0.3", "user:bob")  # a new address, the same user
    assert info.value.retry_after_s == 30 and "user" in info.value.message
    guard.check("10.0.0.1", "user:carol")
    guard.failed("10.0.0.1", "user:carol")  # the address's second failure
    guard.succeeded("user:carol")
    with pytest.raises(TooManyRequests) as info:
        guard.check("10.0.0.1", "user:carol")
    assert "address" in info.value.message
    guard.succeeded("user:bob")
    guard.check("10.0.0.3", "user:bob")
    clock.now += 30
    guard.check("10.0.0.1", "user:carol")


def test_the_pool_runs_a_few_queues_a_few_briefly_and_refuses_the_rest() -> None:
    pool = BoundedPool(1, wait_s=0.05, queue=1)
    inside, leave = threading.Event(), threading.Event()

    def hold() -> None:
        inside.set()
        leave.wait(10)

    holder = threading.Thread(target=pool.run, args=(hold,))
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(TooManyRequests) as info:  # waits its 50 ms, gets no turn
            pool.run(lambda: None)
        assert info.value.retry_after_s == 1
        # One waiting fills the queue: the next is refused without waiting at all.
        pool.wait_s = 10
        ran: list[int] = []
        waiter = threading.Thread(target=pool.run, args=(lambda: ran.append(1),))
        waiter.start()
        wait_for(lambda: pool.pending == 2, message="the waiter to queue")
        with pytest.raises(TooManyRequests):
            pool.run(lambda: ran.append(2))
        leave.set()
        waiter.join(10)
        assert ran == [1]
    finally:
        leave.set()
        holder.join(10)
    assert pool.run(lambda: 42) == 42 and pool.pending == 0
    # No bound: the caller's own thread runs it.
    assert BoundedPool(0, 1, 1).run(threading.get_ident) == threading.get_ident()


class _NoUsers:
    """The identity store of a service with no projects and no users."""

    def projects(self) -> list[Any]:
        return []

    def users(self, name: str = "") -> list[Any]:
        return []


def test_password_sign_in_is_refused_before_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = mrsjobs.identity.accounts.check_password

    def counting(password: str, stored: str) -> bool:
        hashed.append(password)
        return real(password, stored)

    monkeypatch.setattr(mrsjobs.identity.accounts, "check_password", counting)
    accounts = Accounts(_NoUsers(), SecretBox(Fernet.generate_key()),  # type: ignore[arg-type]
                        limits=Limits(signin_failures=3, signin_window_s=60))
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            accounts.password_login(password="guess", user_name="bob", source="10.0.0.1")
    assert len(hashed) == 3
    with pytest.raises(TooManyRequests):
        accounts.password_login(password="guess", user_name="bob", source="10.0.0.9")
    with pytest.raises(TooManyRequests):
        accounts.password_login(password="guess", user_name="eve", source="10.0.0.1")
    assert len(hashed) == 3
    # Another user from another address is not held up.
    with pytest.raises(AuthenticationFailed):
        accounts.password_login(password="guess", user_name="eve", source="10.0.0.9")
    assert len(hashed) == 4


def test_limits_from_settings_default_the_hashing_bound_to_the_cpus() -> None:
    from mrsjobs.settings import Settings

    limits = Limits.from_settings(Settings(signin_failures=5, hash_concurrency=None))
    assert limits.signin_failures == 5 and limits.hash_concurrency >= 1
    assert Limits.from_settings(Settings(hash_concurrency=0)).hash_concurrency == 0
