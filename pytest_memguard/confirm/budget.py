"""The session's confirmation budget: re-runs of suspects within a share of the suite.

A suite where many tests are suspects must not pay a re-run for each of them without
limit. The budget grows with the time the screened runs took (``share`` of it) plus a
fixed ``allowance`` that lets a small suite confirm its leaks; a suspect whose next
repetition would not fit is reported as ``unconfirmed``: shown, saved, never failing.
Explaining a confirmed leak is not charged here: it is paid once per root and capped
by its own time limits.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Seconds of re-runs every session may spend whatever its length.
ALLOWANCE_SECONDS = 2.0
#: The default share of the screened runs' time that re-runs may add.
DEFAULT_SHARE = 0.05


@dataclass
class ConfirmBudget:
    """Seconds screened so far, seconds spent confirming, and what is left."""

    share: float = DEFAULT_SHARE
    allowance: float = ALLOWANCE_SECONDS
    screened_seconds: float = 0.0
    spent_seconds: float = 0.0

    def screened(self, seconds: float) -> None:
        """Count a screened run: the suite's own time the share is taken of."""
        self.screened_seconds += max(seconds, 0.0)

    @property
    def left(self) -> float:
        return self.allowance + self.share * self.screened_seconds - self.spent_seconds

    def allows(self, seconds: float) -> bool:
        """Whether a re-run expected to take ``seconds`` still fits."""
        return seconds <= self.left

    def spend(self, seconds: float) -> None:
        self.spent_seconds += max(seconds, 0.0)
