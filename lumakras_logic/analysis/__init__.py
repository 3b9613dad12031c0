"""Tools for analysts: compare payers on a request, diff them over the request space, and the impact of a kb
change. Built on core and on the abstraction of authoring."""
