"""`python -m bench.enrich`: see `bench.enrich.suite` (or `--help`)."""

import sys

if __name__ == "__main__":  # spawned sender processes import this module too: run nothing
    from bench.core.runner import main
    from bench.enrich.suite import SUITE

    sys.exit(main(SUITE))
