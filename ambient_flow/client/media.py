"""Media sources for the sender, in one place to import from.

Options and protocols: `media_options`; the sources: `audio_inputs` (tone, WAV,
microphone) and `video_inputs` (test pattern, image files, webcam).
"""

from ambient_flow.client.audio_inputs import MicAudio, ToneAudio, WavAudio, open_audio
from ambient_flow.client.media_options import (
    IMAGE_SUFFIXES,
    AudioOptions,
    AudioSource,
    ImageOptions,
    MicOptions,
    PatternOptions,
    ToneOptions,
    VideoOptions,
    VideoSource,
    WavOptions,
    WebcamOptions,
    chunk_samples,
    describe,
)
from ambient_flow.client.video_inputs import (
    ImageFiles,
    TestPattern,
    Webcam,
    encode_jpeg,
    open_video,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "AudioOptions",
    "AudioSource",
    "ImageFiles",
    "ImageOptions",
    "MicAudio",
    "MicOptions",
    "PatternOptions",
    "TestPattern",
    "ToneAudio",
    "ToneOptions",
    "VideoOptions",
    "VideoSource",
    "WavAudio",
    "WavOptions",
    "Webcam",
    "WebcamOptions",
    "chunk_samples",
    "describe",
    "encode_jpeg",
    "open_audio",
    "open_video",
]
