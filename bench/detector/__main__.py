"""`python -m bench.detector`: see `bench.detector.measure` (or `--help`)."""

import sys

if __name__ == "__main__":
    from bench.detector.measure import main

    sys.exit(main())
