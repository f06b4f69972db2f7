"""``make demo``: start the local stack, run the reference pipeline, print a summary, stop everything."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from tessera.demo import segmentation_part
from tessera.demo.bids_part import run_bids
from tessera.demo.clustering_part import run_clustering
from tessera.demo.compression_part import run_compression
from tessera.demo.graph_part import run_graph
from tessera.demo.pipeline import run_pipeline
from tessera.devstack import DevStack, StackConfig


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    log_dir = Path(".stack") / "demo"
    started = time.monotonic()
    print("starting the local stack: Tansu (Kafka protocol), moto (S3), Triton ...", flush=True)
    with DevStack(StackConfig(log_dir=log_dir)) as stack:
        print(f"stack ready in {time.monotonic() - started:.1f}s; running the reference pipeline ...", flush=True)
        report = run_pipeline(stack, log_dir)
        print("reference pipeline done; starting segmentation and training its model ...", flush=True)
        seg_service, seg = segmentation_part.start(stack, log_dir)
        try:
            print("running the bids service (its dataset feeds segmentation) ...", flush=True)
            bids = run_bids(stack, log_dir)
            segmentation_part.collect(stack, seg, bids.dataset_uri)
        finally:
            seg_service.process.stop()
        print("running the compression service (estimate, train + register a CNN, PWF job, Triton) ...", flush=True)
        compression = run_compression(stack, log_dir)
        print("running the graph service (Hyper-SAGNN on GPS: train job, Predict, ScoreOutsiders) ...", flush=True)
        graph = run_graph(stack, log_dir)
        print("running the clustering service (SCADDA ClusterJob on a fire-emission grid) ...", flush=True)
        clustering = run_clustering(stack, log_dir)
    print("\n== Tessera demo summary ==")
    print("-- platform: the reference pipeline (events -> job -> Triton -> S3 -> events)")
    for line in report.lines():
        print(line)
    print("-- bids: DICOM + task logs -> validated BIDS dataset")
    for line in bids.lines():
        print(line)
    print("-- segmentation: cascaded 3D FCN, balanced multi-contrast training")
    for line in seg.lines():
        print(line)
    print("-- compression: probabilistic weight fixing, pruning, quantisation, training-accuracy estimate")
    for line in compression.lines():
        print(line)
    print("-- graph: Hyper-SAGNN hyperedge prediction and outsider identification")
    for line in graph.lines():
        print(line)
    print("-- clustering: SCADDA spatio-temporal clustering (KDE-adaptive great-circle distances, DTW)")
    for line in clustering.lines():
        print(line)
    print(f"total {time.monotonic() - started:.1f}s; logs in {log_dir}/")
    ok = report.completed == report.requests and report.max_abs_diff < 1e-4 and len(report.dead_letters) == 2
    ok = ok and bids.ok and seg.ok and compression.ok and graph.ok and clustering.ok
    print("RESULT:", "OK" if ok else "PROBLEM (see above and the logs)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
