"""Tools for policy authors: the kb linter (check), rules and queries over the kb, the case runner and the
abstraction of the request space it measures coverage on. Built on core only."""
