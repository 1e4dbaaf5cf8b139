"""The session's confirmation budget: re-runs of suspects within a share of the suite.

A suite where many tests are suspects must not pay a re-run for each of them without
limit. The budget grows with the time the screened runs took (``share`` of it) plus a
fixed ``allowance`` that lets a small suite confirm its leaks (a suite of more than
:data:`SMALL_SUITE_TESTS` guarded tests gets a smaller one, :func:`suite_allowance`,
falling with the square of its size: its own share pays for its confirmations, and a
suite of a thousand quick tests must not spend a tenth of its time on them); a suspect
whose least
confirmation (:data:`~pytest_memguard.confirm.rules.MIN_REPEAT` repetitions) would not
fit is reported as ``unconfirmed``: shown, saved, never failing. On h2's suite one 1.25 s
test, re-run twice, spent the whole budget and left 41 quick suspects unconfirmed.
Once started, repetitions go on while they grow: stopping a likely leak short would
waste the runs made, and the suspects after it pay for the overrun.
Waiting for the threads and child processes a re-run left to end (the sentinels' grace
period) is not the test's time: it is charged apart, to its own fixed allowance, so the
re-runs of a thread leak in a small suite fit as well as those of any quick test.
Explaining a confirmed leak is not charged here: it is paid once per root and capped
by its own time limits.

Learning has a reserve on top, half the budget, charged apart from it: a fast
suspect whose shape of growth came before may use it (see
:mod:`~pytest_memguard.confirm.shapes`), so the holder that explains a long run of later
tests is still learned once the re-runs of earlier suspects spent, or overran, the
budget. The first re-runs of a parametrized function's shape of growth, which vouch for
its later tests (:mod:`~pytest_memguard.confirm.siblings`), have a reserve of their own
as large: on babel's suite the searches of slower suspects spent the other one before
its thousand smoke tests came, and their first re-runs found no room.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Seconds of re-runs every session may spend whatever its length.
ALLOWANCE_SECONDS = 1.0
#: Seconds re-runs may spend waiting for what they left to end, whatever the length.
WAIT_ALLOWANCE_SECONDS = 2.0
#: Guarded tests a suite may have and keep the whole allowance.
SMALL_SUITE_TESTS = 200
#: The default share of the screened runs' time that re-runs may add.
DEFAULT_SHARE = 0.03
#: What learning may spend past the budget, as a share of it.
RESERVE_SHARE = 0.5


def suite_allowance(tests: int) -> float:
    """The fixed allowance of a session that guards ``tests`` tests: all of it up to
    :data:`SMALL_SUITE_TESTS` tests, falling with the square of the size past them. A
    fixed second of re-runs is what a leak case of a few tests needs; in proportion to
    the size, it was a tenth of a 2-second suite of a thousand small tests (measured on
    humanize's and marshmallow's suites: 0.2 s of re-runs, a seventh of their time).
    There the share of its own time is the budget, and the 45 ms left serve its first
    suspects, before the share has grown."""
    if tests <= SMALL_SUITE_TESTS:
        return ALLOWANCE_SECONDS
    return ALLOWANCE_SECONDS * (SMALL_SUITE_TESTS / tests) ** 2


@dataclass
class ConfirmBudget:
    """Seconds screened so far, seconds spent confirming, and what is left."""

    share: float = DEFAULT_SHARE
    allowance: float = ALLOWANCE_SECONDS
    screened_seconds: float = 0.0
    spent_seconds: float = 0.0
    reserve_spent: float = 0.0
    siblings_spent: float = 0.0
    wait_allowance: float = WAIT_ALLOWANCE_SECONDS
    waited_seconds: float = 0.0

    def screened(self, seconds: float) -> None:
        """Count a screened run: the suite's own time the share is taken of."""
        self.screened_seconds += max(seconds, 0.0)

    @property
    def total(self) -> float:
        return self.allowance + self.share * self.screened_seconds

    @property
    def left(self) -> float:
        return self.total - self.spent_seconds

    @property
    def reserve_left(self) -> float:
        return RESERVE_SHARE * self.total - self.reserve_spent

    @property
    def siblings_left(self) -> float:
        return RESERVE_SHARE * self.total - self.siblings_spent

    def allows(
        self, seconds: float, reserve: bool = False, waits: float = 0.0, siblings: bool = False
    ) -> bool:
        """Whether a re-run expected to take ``seconds``, and to wait ``waits`` seconds
        for what it left to end, still fits, in the reserve too when ``reserve``
        (learning a holder), in the siblings' when ``siblings``."""
        if waits > self.wait_allowance - self.waited_seconds:
            return False
        return (
            seconds <= self.left
            or (reserve and seconds <= self.reserve_left)
            or (siblings and seconds <= self.siblings_left)
        )

    def pay_back(self, seconds: float) -> None:
        """Give the reserve back up to ``seconds`` it spent: learning that paid."""
        self.reserve_spent -= min(max(seconds, 0.0), self.reserve_spent)

    def spend(
        self, seconds: float, reserve: bool = False, waits: float = 0.0, siblings: bool = False
    ) -> None:
        """Charge ``seconds`` to the budget, or when it has no room to the reserve that
        allowed them (``reserve``, else ``siblings``): confirmations that overran the
        budget leave the reserves whole; ``waits`` go to the waiting allowance."""
        self.waited_seconds += max(waits, 0.0)
        seconds = max(seconds, 0.0)
        if seconds <= self.left or not (reserve or siblings):
            self.spent_seconds += seconds
        elif reserve and (not siblings or seconds <= self.reserve_left):
            self.reserve_spent += seconds
        else:
            self.siblings_spent += seconds
