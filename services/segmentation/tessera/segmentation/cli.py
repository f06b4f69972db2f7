"""``tessera segment T1.nii.gz OUT.nii.gz [--t2w F] [--flair F]`` and ``tessera segmentation train --config F``.

Both run locally against the artifact store of ``TESSERA_ARTIFACTS_URI`` (default
``./.tessera/artifacts``): models are published there by ``train`` and read by ``segment``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

segmentation_app = typer.Typer(no_args_is_help=True, help="Segmentation models: train and inspect.")


def _runtime():  # type: ignore[no-untyped-def]
    from tessera.core.runtime import ServiceRuntime
    from tessera.core.settings import load_settings
    from tessera.segmentation.settings import SegmentationSettings

    settings = load_settings(SegmentationSettings, kafka_bootstrap=None)
    return ServiceRuntime(settings, configure_logs=False)


def segment(
    t1: Path = typer.Argument(..., exists=True, dir_okay=False, help="T1w NIfTI."),
    out: Path = typer.Argument(..., help="Output label map (.nii.gz)."),
    t2w: Path | None = typer.Option(None, exists=True, dir_okay=False, help="T2w NIfTI of the same subject."),
    flair: Path | None = typer.Option(None, exists=True, dir_okay=False, help="FLAIR NIfTI of the same subject."),
    model: str = typer.Option("", help="Model name (default from TESSERA_SEGMENTATION_DEFAULT_MODEL)."),
) -> None:
    """Segment one subject's T1w (+ optional T2w, FLAIR) into a label map; prints volumes and timings."""
    import nibabel as nib
    import numpy as np

    from tessera.core.errors import TesseraError
    from tessera.segmentation.service import SegmentationService, expected_dice_cost
    from tessera.segmentation.volumes import parse_nifti

    service = SegmentationService(_runtime())
    try:
        card = service.card(model)
        given = [("T1w", t1), ("T2w", t2w), ("FLAIR", flair)]
        images = [(c, parse_nifti(p.read_bytes(), str(p))) for c, p in given if p is not None]
        subject = service.subject(images, card)
        outcome = service.segmenter(card).segment(subject)
    except TesseraError as exc:
        typer.echo(f"{exc.code.name}: {exc}", err=True)
        raise typer.Exit(1) from None
    nib.save(nib.Nifti1Image(outcome.labels.astype(np.uint8), subject.affine), out)
    typer.echo(json.dumps({"out": str(out), "model": f"{card.name} v{card.version}", "volumes_ml": outcome.volumes_ml,
                           "missing_contrasts": outcome.missing,
                           "expected_dice_cost": expected_dice_cost(card, outcome.missing),
                           "timings_s": outcome.timings_s}, indent=2))


@segmentation_app.command("train")
def train_cmd(
    config: Path | None = typer.Option(None, "--config", exists=True, help="JSON with CascadeTrainSpec fields."),
    name: str = typer.Option("", help="Publish as this model (default seg-<task>)."),
) -> None:
    """Train a cascade locally and publish it to the artifact store's model repository."""
    from tessera.segmentation.trainer import CascadeTrainSpec, train_cascade

    fields = json.loads(config.read_text()) if config else {}
    if "contrasts" in fields:
        fields["contrasts"] = tuple(fields["contrasts"])
    spec = CascadeTrainSpec(**fields)
    runtime = _runtime()
    card = train_cascade(spec, runtime.models, name or f"seg-{spec.task}",
                         progress=lambda f, m: typer.echo(f"{f:5.1%} {m}", err=True))
    typer.echo(json.dumps({"model": card.name, "version": card.version, "metrics": card.metrics}, indent=2))
