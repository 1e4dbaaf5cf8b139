"""Conftest sources for the inner pytest runs of the plugin's tests."""

from __future__ import annotations


def counting_conftest(target: str, recorded: str, shown: str) -> str:
    """A conftest for an inner run that wraps the function ``target`` (``module.name``)
    to record ``recorded`` (an expression of the call's ``args``) of each call in
    ``CALLS``, and writes ``shown`` (an expression of ``CALLS``) in the terminal summary.
    What is recorded must hold none of the plugin's lists: they would count in the
    reference counts its rules read."""
    module = target.rpartition(".")[0]
    return f"""
import {module}

CALLS = []
_original = {target}


def counting(*args, **kwargs):
    CALLS.append({recorded})
    return _original(*args, **kwargs)


{target} = counting


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line({shown})
"""
