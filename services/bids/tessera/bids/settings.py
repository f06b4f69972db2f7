"""Settings of the bids service (``TESSERA_BIDS_*`` on top of the shared ``TESSERA_*``)."""

from __future__ import annotations

from pydantic import Field

from tessera.core.settings import TesseraSettings


class BidsSettings(TesseraSettings):
    service_name: str = "bids"
    bids_max_upload_bytes: int = Field(20 * 1024**3, gt=0, description="Largest accepted upload/archive, bytes.")
    bids_max_file_bytes: int = Field(2 * 1024**3, gt=0, description="Largest single file inside an archive, bytes.")
    bids_max_ratio: float = Field(200.0, gt=1, description="Largest uncompressed/compressed ratio (zip bombs).")
    bids_max_entries: int = Field(200_000, gt=0, description="Most entries in one archive.")
    bids_convert_timeout_s: float = Field(600.0, gt=0, description="dcm2niix time limit per series.")
    bids_validator_timeout_s: float = Field(600.0, gt=0, description="BIDS validator time limit.")
