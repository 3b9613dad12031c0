"""`python -m lumakras_logic ...`: the same as the `lumakras` command."""

from .cli import main

if __name__ == "__main__":
    main(prog_name="lumakras")
