"""A realistic, reproducible test corpus: multi-vendor DICOM sessions built from the MNI152
template, PsychoPy / E-Prime task logs, and a ground-truth manifest of the expected BIDS mapping.

>>> m = generate_corpus("/tmp/corpus", subjects=2, sessions=2, vendors=("siemens", "ge", "philips"))
>>> corpus_archive("/tmp/corpus", "/tmp/corpus.zip")

CLI: ``python -m tessera.bids.corpus OUT_DIR [--subjects N --sessions M --vendor siemens|ge|philips|mixed
--seed S --size small|medium --archive zip|tar.gz]``.
"""

from tessera.bids.corpus.archive import corpus_archive
from tessera.bids.corpus.generate import generate_corpus
from tessera.bids.corpus.manifest import CorpusManifest, EventLogTruth, OutputTruth, SeriesTruth

__all__ = ["CorpusManifest", "EventLogTruth", "OutputTruth", "SeriesTruth", "corpus_archive", "generate_corpus"]
