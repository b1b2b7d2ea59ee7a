"""`python -m bench.soak`: see `bench.soak.run` (or `--help`)."""

import sys

if __name__ == "__main__":
    from bench.soak.run import main

    sys.exit(main())
