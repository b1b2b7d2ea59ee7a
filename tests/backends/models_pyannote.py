"""Tiny random-weight pyannote checkpoints, built with pyannote's own constructors.

`segmentation_checkpoint` is a small PyanNet with segmentation-3.0's powerset
specifications (3 speakers per chunk, at most 2 at once, 5 s chunks, frame resolution);
`embedding_checkpoint` is an XVectorSincNet with a chunk-level representation task. Both
are saved as pyannote/Lightning checkpoints (`state_dict`, `hyper_parameters`,
`pytorch-lightning_version`, and what `Model.on_save_checkpoint` adds), i.e. the file
format of the real `pytorch_model.bin` a user downloads, so loading them exercises the
same code a real checkpoint goes through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _save(model: Any, path: Path) -> Path:
    import pytorch_lightning as pl
    import torch

    checkpoint: dict[str, Any] = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": pl.__version__,  # type: ignore[attr-defined,unused-ignore]
    }
    model.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return path


def segmentation_checkpoint(path: Path, seed: int = 0) -> Path:
    """A PyanNet (SincNet + 1 BiLSTM + 1 linear layer) with powerset specifications."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    model = PyanNet(
        sincnet={"stride": 10},
        lstm={"hidden_size": 16, "num_layers": 1, "bidirectional": True, "monolithic": True},
        linear={"hidden_size": 16, "num_layers": 1},
    )
    model.specifications = Specifications(
        problem=Problem.MONO_LABEL_CLASSIFICATION,
        resolution=Resolution.FRAME,
        duration=5.0,
        min_duration=None,
        warm_up=(0.0, 0.0),
        classes=["speaker#1", "speaker#2", "speaker#3"],
        powerset_max_classes=2,
        permutation_invariant=True,
    )
    model.build()
    return _save(model, path)


def embedding_checkpoint(path: Path, seed: int = 0) -> Path:
    """An XVectorSincNet (512-d) with a chunk-level representation task."""
    import torch
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.embedding import XVectorSincNet

    torch.manual_seed(seed)
    model = XVectorSincNet()
    model.specifications = Specifications(
        problem=Problem.REPRESENTATION,
        resolution=Resolution.CHUNK,
        duration=5.0,
        min_duration=None,
        warm_up=(0.0, 0.0),
        classes=None,
    )
    model.build()
    return _save(model, path)
