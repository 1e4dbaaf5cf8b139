"""Screening: the cheap first look every guarded test gets.

One test flows through it like this: the window opens (``gc.freeze()``), the test
runs, the young survivors are listed, what pytest and wider-scoped fixtures hold is
discounted (:mod:`pytest_memguard.holders`), and :mod:`.triage` sorts the rest by
who holds it, using the holders the session has learned (:mod:`.holderbook`): growth
held by a bounded cache, by a newly imported module or by weak references to old
objects is warm-up at once; growth in a root already confirmed as leaking is that
root's leak again; only growth nothing explains makes the test a suspect.
"""
