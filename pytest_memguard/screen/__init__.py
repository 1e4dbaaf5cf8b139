"""Screening: the cheap first look every guarded test gets.

One test flows through it like this: :mod:`.window` opens a window (:mod:`.heap`:
``gc.freeze()`` makes everything alive the old heap), the test runs under pytest's own
protocol, the young survivors are listed, what pytest and wider-scoped fixtures hold is
discounted (:mod:`.holders`), and :mod:`.triage` sorts the rest by who holds it, using
the holders the session has learned (:mod:`.holderbook`): growth held by a bounded
cache, by a newly imported module or by weak references to old objects is warm-up at
once; growth in a root already confirmed as leaking is that root's leak again; only
growth nothing explains makes the test a suspect. Alongside, :mod:`.containers` reads
the lengths of module-level containers (untracked growth) and :mod:`.gcwatch` the
collections and pauses. :mod:`.warmup` fills first-use caches before the first window.
"""
