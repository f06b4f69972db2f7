"""tessera.segmentation: coarse-to-fine cascaded 3D FCN with balanced multi-contrast training."""
