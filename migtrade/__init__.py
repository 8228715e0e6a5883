"""migtrade: gravity models of trade and migration, from data to verdict."""

__version__ = "0.1.0"
