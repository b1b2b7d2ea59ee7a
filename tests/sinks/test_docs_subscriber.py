"""docs/frames.md's five-line subscriber, run as written against a live host."""

from __future__ import annotations

import ast
import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from ambient_flow.testing import LiveHost, fakes
from ambient_flow.testing.media import sine_pcm
from ambient_flow.testing.messages import audio_parts

ROOT = Path(__file__).resolve().parents[2]


def subscriber() -> str:
    text = (ROOT / "docs" / "frames.md").read_text()
    section = text[text.index("## The PUB stream") :]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)[:1]
    return str(code)


def test_the_subscriber_is_five_lines_and_decodes_what_the_host_publishes(tmp_path: Path) -> None:
    code = subscriber()
    assert len([line for line in code.splitlines() if line.strip()]) == 5
    models = fakes.models(script=lambda start, end: "did the build finish")
    with LiveHost(tmp_path, enrich=True, models=models) as host:
        endpoint = f"tcp://127.0.0.1:{host.settings.pub_port}"
        assert "tcp://localhost:5559" in code
        proc = subprocess.Popen(
            [sys.executable, "-u", "-c", code.replace("tcp://localhost:5559", endpoint)],
            env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            time.sleep(1.0)  # a SUB joins late
            push = host.push("audio")
            now = int(time.time() * 1000)
            for seq in range(40):  # 2 s loud, then 2 s of silence ends the utterance
                pcm = sine_pcm(220.0, phase_samples=1600 * seq) if seq < 20 else bytes(3200)
                push.send_multipart(audio_parts(seq, ts=now + 100 * seq, client="kitchen", pcm=pcm))
            host.wait_for(lambda out: len(out.audio("kitchen")) == 40, timeout=10)
            push.close()  # LINGER 0: only once everything is through
            lines: queue.Queue[str] = queue.Queue()
            reader = threading.Thread(
                target=lambda: [lines.put(x) for x in proc.stdout or ()], daemon=True
            )
            reader.start()
            line = ""
            deadline = time.monotonic() + 30
            while "utterance" not in line and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    line = lines.get(timeout=0.5)
        finally:
            proc.kill()
            _, err = proc.communicate(timeout=10)
    assert "utterance" in line, err
    topic, frame = line.rstrip("\n").split(" ", 1)
    printed = ast.literal_eval(frame)
    assert topic == "kitchen"
    assert printed["event_type"] == "utterance"
    assert printed["text_hypothesis"] == "did the build finish"
