"""The single place where cmf's version number is written."""

__version__ = "0.1.0"
