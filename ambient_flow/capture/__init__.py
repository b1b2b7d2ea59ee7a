"""`.zmqcap` captures: exactly what arrived, replayable through the same flow."""

from ambient_flow.capture.format import FORMAT_VERSION, CaptureReader, CaptureWriter, Problem

__all__ = ["FORMAT_VERSION", "CaptureReader", "CaptureWriter", "Problem"]
