"""Renderers of the per-test records: terminal, JSON (``json.py``) and HTML.

Each renderer reads :class:`pytest_memguard.record.TestRecord` data and nothing else.
"""
