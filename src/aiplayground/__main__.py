"""`python -m aiplayground`: the same command line as the `aiplayground` script."""

from aiplayground.cli import main

if __name__ == "__main__":
    main()
