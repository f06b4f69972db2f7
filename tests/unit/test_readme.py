"""The README's configuration reference matches the settings the code reads."""

from __future__ import annotations

import re

from tessera.bids.settings import BidsSettings
from tessera.clustering.settings import ClusteringSettings
from tessera.compression.settings import CompressionSettings
from tessera.core.settings import ENV_PREFIX, TesseraSettings
from tessera.graph.settings import GraphSettings
from tessera.segmentation.settings import SegmentationSettings
from tests.conftest import REPO_ROOT


def test_readme_documents_every_setting_and_no_stale_ones() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(TESSERA_[A-Z0-9_]+)` \|", readme, flags=re.M))
    classes = (TesseraSettings, BidsSettings, SegmentationSettings, CompressionSettings,
               GraphSettings, ClusteringSettings)
    expected = {ENV_PREFIX + name.upper() for cls in classes for name in cls.model_fields}
    assert expected - documented == set(), "settings missing from README"
    assert documented - expected == set(), "README documents settings the code no longer has"


def test_readme_names_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
