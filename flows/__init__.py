"""Bytewax entry points. They only wire: `live` and `replay` differ only in their source."""
