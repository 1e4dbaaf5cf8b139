"""The explain stage: what a confirmed leak retains, who holds it, where it was made.

:func:`.explainer.explain` takes the retained objects of one run of a leaking test and
returns one :class:`~pytest_memguard.findings.Finding` per group, largest first (warm-up
last); the package imports none of its modules, so the per-test path pays only for the
few it uses:

- :mod:`.graph` groups the retained objects (tops, cycles, allocation sites);
- :mod:`.sizes` weighs each group (deep size, shared objects once);
- :mod:`.sites` reads allocation sites from tracemalloc;
- :mod:`.roots` lists what a chain may start from (modules, classes, threads, holders);
- :mod:`.chains` searches a path of references from a root to each of the first groups
  (all of them in the same passes over the heap),
  going through :mod:`.detours` (weak tables, contexts) only when nothing else leads out;
- :mod:`.naming` writes that path the way code reads it;
- :mod:`.classify` names the kind of leak and the advice, telling code someone
  registered from the standard library's machinery with :mod:`.owners`;
- :mod:`.summary` words the finding.
"""

from __future__ import annotations
