"""`python -m anime_catalog` runs the catalog service; see `cli.py` for the other commands."""

from anime_catalog.cli import main

if __name__ == "__main__":
    main()
