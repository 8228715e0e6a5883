"""The version of migtrade (a module of its own, so that modules can name it without importing
the package and what it loads lazily)."""

__version__ = "0.1.0"
