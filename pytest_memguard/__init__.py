"""pytest-memguard: memory-regression testing for pytest."""

from pytest_memguard.findings import ChainEdge, Finding, Frame
from pytest_memguard.record import TestRecord

__version__ = "0.1.0"
__all__ = ["ChainEdge", "Finding", "Frame", "TestRecord", "__version__"]
