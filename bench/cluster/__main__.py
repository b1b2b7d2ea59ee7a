"""python -m bench.cluster: see bench/cluster/__init__.py."""

from bench.cluster.main import main

raise SystemExit(main())
