"""Confirming suspects: the pure decision rules and what bounds their cost.

:mod:`.rules` decides from the figures of guarded runs (suspect, confirmed, limits
broken); :mod:`.decide` turns what guarding a test found into its verdict and record;
:mod:`.bounds` reads the bound that makes a holder's growth warm-up;
:mod:`.replaced`, :mod:`.lrucaches` and :mod:`.lazy` explain what the screen left
without a search (objects replacing ones the run dropped, what a bounded ``lru_cache``
holds, dicts made on first access to an older object);
:mod:`.shapes` decides which fast suspects are worth looking up;
:mod:`.budget` keeps the session's re-runs within a share of the suite's own time.
"""
