"""docs/architecture.md draws the live graph as Bytewax sees it; this keeps it true."""

from __future__ import annotations

import re
from pathlib import Path

from bytewax.visualize import to_mermaid

from ambient_flow.graph import build_live
from ambient_flow.runtime import HostRuntime
from ambient_flow.testing import fakes, test_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def test_the_drawing_of_the_live_graph_is_the_graph(tmp_path: Path) -> None:
    runtime = HostRuntime(settings=test_settings(tmp_path, enrich=True))
    graph = build_live(runtime, fakes.models())
    drawn = re.search(r"```mermaid\n(.*?)```", DOC.read_text(), re.S)
    assert drawn is not None
    assert drawn.group(1).strip() == to_mermaid(graph.dataflow).strip(), (
        "the live graph changed: paste the output of `python tests/test_architecture.py` into "
        "docs/architecture.md"
    )
    runtime.close()


if __name__ == "__main__":  # `python tests/test_architecture.py`: the drawing to paste
    import tempfile

    runtime = HostRuntime(settings=test_settings(tempfile.mkdtemp(), enrich=True))
    print(to_mermaid(build_live(runtime, fakes.models()).dataflow))
    runtime.close()
