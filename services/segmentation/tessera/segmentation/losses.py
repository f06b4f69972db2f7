"""Training loss: Dice + cross entropy over softmax logits (MONAI ``DiceCELoss``).

Dice keeps small structures (lesions, deep nuclei) from being drowned by background, cross entropy
keeps the gradients well behaved early in training; the sum is the usual nnU-Net / MONAI choice.
"""

from __future__ import annotations

from monai.losses import DiceCELoss

from tessera.core.errors import InvalidArgument


def dice_ce_loss(include_background: bool = False, lambda_dice: float = 1.0, lambda_ce: float = 1.0,
                 smooth: float = 1e-5) -> DiceCELoss:
    """Dice + CE loss on logits (N, K, D, H, W) against integer labels (N, 1, D, H, W) in 0..K-1.

    ``include_background``: whether class 0 counts in the Dice term (CE always covers every class);
    off by default so the large background does not dominate the Dice average. ``lambda_dice`` and
    ``lambda_ce`` weight the two terms; ``smooth`` (added to numerator and denominator) keeps the Dice of
    a class absent from a batch finite. Returns a scalar (mean over batch and classes).
    """
    if lambda_dice < 0 or lambda_ce < 0 or lambda_dice + lambda_ce == 0:
        raise InvalidArgument.field("loss.lambda", f"weights must be >= 0 and not both 0, got dice={lambda_dice} "
                                    f"ce={lambda_ce}")
    return DiceCELoss(include_background=include_background, to_onehot_y=True, softmax=True,
                      lambda_dice=lambda_dice, lambda_ce=lambda_ce, smooth_nr=smooth, smooth_dr=smooth)
