"""`ambient-flow status`'s page (the `stats` document as text)."""

from __future__ import annotations

from ambient_flow.cli.display import format_status
from ambient_flow.telemetry import Telemetry


def test_the_status_page_shows_how_much_audio_was_judged_speech_per_client() -> None:
    telemetry = Telemetry()
    telemetry.client("kitchen", {"open": True, "audio_seconds": 12.0, "counters": {}})
    telemetry.client("hall", {"open": True, "audio_seconds": 3.0, "counters": {}})
    telemetry.client("quiet", {"open": True, "audio_seconds": 1.0, "counters": {}})
    telemetry.speech("kitchen", 10.0, 4.0)
    telemetry.speech("kitchen", 2.0, 2.0)
    telemetry.speech("hall", 3.0, 0.0)
    page = format_status(telemetry.status())
    print(page)
    assert "speech 6.0 s of 15.0 s the VAD judged (40 %)" in page
    rows = {line.split()[0]: line.split() for line in page.splitlines()[-3:]}
    assert rows["kitchen"][2:4] == ["12.0", "6.0"]  # audio s, speech s
    assert rows["hall"][2:4] == ["3.0", "0.0"]
    assert rows["quiet"][2:4] == ["1.0", "-"]  # the VAD has not judged any of it
