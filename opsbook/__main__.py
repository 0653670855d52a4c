"""`python -m opsbook` runs the CLI."""

from opsbook.cli import main

if __name__ == "__main__":
    main()
