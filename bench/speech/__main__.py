"""`python -m bench.speech`: see `bench.speech.suite` (or `--help`)."""

import sys

if __name__ == "__main__":  # spawned sender processes import this module too: run nothing
    from bench.core.runner import main
    from bench.speech.suite import SUITE

    sys.exit(main(SUITE))
