"""lumakras-logic: decide and explain prior-authorization requests for sotorasib from Datalog policies."""

__version__ = "0.1.0"
