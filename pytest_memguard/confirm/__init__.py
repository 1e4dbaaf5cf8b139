"""Confirming suspects: the pure decision rules and what bounds their cost.

:mod:`.rules` decides from the figures of guarded runs (suspect, confirmed, limits
broken); :mod:`.decide` turns what guarding a test found into its verdict and record;
:mod:`.bounds` reads the bound that makes a holder's growth warm-up;
:mod:`.budget` keeps the session's re-runs within a share of the suite's own time.
"""
