"""Renderers of the per-test records: terminal, JSON (``json.py``) and HTML.

Each renderer reads :class:`pytest_memguard.record.TestRecord` data and nothing else.
"""

#: Every line memguard prints fits this many columns: the ``memguard`` command's tables
#: and the advice under a failing test.
WIDTH = 100
