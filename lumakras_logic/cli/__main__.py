"""`python -m lumakras_logic.cli`: the `lumakras` command."""

from . import main

if __name__ == "__main__":
    main(prog_name="lumakras")
