"""lumakras-logic: decide and explain prior-authorization requests for sotorasib from Datalog policies.

The package is three rings and a face: `core` (the kb, requests, the engine, the policy model, answers and
their rendering, the `Decider` API: `from lumakras_logic.core.api import Decider`), `authoring` (check,
rules, query, the case runner, the abstraction), `analysis` (compare, diff, impact) and `cli`, the
`lumakras` command. Core imports no ring; no ring imports the command line.
"""

__version__ = "0.1.0"
