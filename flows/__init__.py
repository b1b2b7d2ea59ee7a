"""Bytewax entry points (`python -m bytewax.run flows.live`). They only wire: the graphs
are built by `ambient_flow.graph`, and `live` and `replay` differ only in their source."""
