"""``tessera compress MODEL --method M [--config F]`` and ``tessera compression estimate|validate-estimate|
register|train``.

``compress`` runs the job here, against the artifact store of ``TESSERA_ARTIFACTS_URI`` (default
``./.tessera/artifacts``), or on a running service with ``--server host:port``. ``register`` and
``train`` put torch models into the registry; the estimate commands need no server at all.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

compression_app = typer.Typer(no_args_is_help=True,
                              help="Model compression: registry, reference training, capacity planning.")


@compression_app.command("estimate")
def estimate_cmd(
    d: int = typer.Option(..., "--d", help="Input dimensionality."),
    n: int = typer.Option(..., "--n", help="Number of training points (two random balanced classes)."),
    l_hidden: int = typer.Option(..., "--l", help="Hidden-layer width of the two-layer network."),
) -> None:
    """Expected maximum training accuracy of a two-layer network on random two-class data (no training)."""
    from tessera.compression.service import estimate
    from tessera.core.errors import InvalidArgument

    try:
        result = estimate(d, n, l_hidden)
    except InvalidArgument as exc:
        typer.echo(f"{exc.code.name}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps({"d": d, "n": n, "l": l_hidden, "training_accuracy": round(result.training_accuracy, 6),
                           "regions": result.regions, "points_per_region": result.points_per_region,
                           "method": result.method}, indent=2))


@compression_app.command("validate-estimate")
def validate_cmd(
    dims: str = typer.Option("2,5,10", help="Comma-separated input dimensionalities d."),
    points: str = typer.Option("200", help="Comma-separated numbers of points N."),
    hidden: str = typer.Option("2,4,8,16", help="Comma-separated hidden widths L."),
    epochs: int = typer.Option(3000, help="Full-batch Adam epochs per network."),
    seeds: int = typer.Option(4, help="Random datasets (and networks) per grid cell."),
) -> None:
    """Train two-layer networks on random data over a (d, N, L) grid; print estimate vs measured."""
    from tessera.compression.estimation_harness import TrainingConfig, product_grid, validate_grid

    def ints(text: str) -> list[int]:
        return [int(v) for v in text.split(",") if v.strip()]

    summary = validate_grid(product_grid(ints(dims), ints(points), ints(hidden)),
                            TrainingConfig(epochs=epochs, seeds=seeds))
    typer.echo(f"{'d':>4} {'N':>6} {'L':>4} {'estimate':>9} {'measured':>9} {'|err|':>7}")
    for c in summary.cells:
        typer.echo(f"{c.d:>4} {c.n:>6} {c.l:>4} {c.estimate:>9.3f} {c.measured_mean:>9.3f} {c.abs_error:>7.3f}")
    typer.echo(f"mean |err| {summary.mean_abs_error:.3f}, max |err| {summary.max_abs_error:.3f}")


def _runtime():  # type: ignore[no-untyped-def]
    from tessera.compression.settings import CompressionSettings
    from tessera.core.runtime import ServiceRuntime
    from tessera.core.settings import load_settings

    return ServiceRuntime(load_settings(CompressionSettings, kafka_bootstrap=None), configure_logs=False)


def _fail(exc: Exception) -> typer.Exit:
    code = getattr(getattr(exc, "code", None), "name", type(exc).__name__)
    typer.echo(f"{code}: {exc}", err=True)
    return typer.Exit(2)


def _dataset_ref(dataset: str, dataset_uri: str, split: str):  # type: ignore[no-untyped-def]
    from tessera.v1 import common_pb2, compression_pb2

    if dataset_uri:
        return compression_pb2.DatasetRef(uri=common_pb2.ArtifactRef(uri=dataset_uri), split=split)
    return compression_pb2.DatasetRef(name=dataset, split=split)


def compress(
    model: str = typer.Argument(..., help="Registered model name (torch state + ONNX, or plain ONNX for int8)."),
    method: str = typer.Option(..., "--method", help="pwf|kmeans|int8|magnitude|gmp|channel|nm|movement|lth"),
    config: Path | None = typer.Option(None, "--config", exists=True, dir_okay=False,
                                       help="JSON with the method's config (and train_samples, eval_samples, ...)."),
    dataset: str = typer.Option("fashion-mnist", help="Built-in dataset: fashion-mnist or mnist."),
    dataset_uri: str = typer.Option("", help="Or an .npz artifact (x, y[, x_test, y_test]) by URI; for an ONNX "
                                         "segmentation net an .npz of volumes or a NIfTI pairs manifest."),
    split: str = typer.Option("", help="'' (train to fine-tune, test to report), train or test."),
    version: str = typer.Option("", help="Source version (default newest)."),
    output: str = typer.Option("", help="Publish as this model (default MODEL-METHOD)."),
    seed: int = typer.Option(0),
    server: str = typer.Option("", help="host:port of a running compression service; default: run here."),
) -> None:
    """Compress a registered model into a new version of the Triton model repository; prints its report."""
    from tessera.compression.worker import method_enum
    from tessera.core.errors import TesseraError
    from tessera.v1 import compression_pb2

    try:
        request = compression_pb2.CompressRequest(
            model=compression_pb2.ModelRef(name=model, version=version), method=method_enum(method),
            dataset=_dataset_ref(dataset, dataset_uri, split), config_json=config.read_text() if config else "",
            output_model=output, seed=seed)
        job = _run_remote(server, request) if server else _run_local(request)
    except TesseraError as exc:
        raise _fail(exc) from None
    _print_result(job, server)


def _run_local(request):  # type: ignore[no-untyped-def]
    import time

    from tessera.compression.server import available_methods
    from tessera.compression.worker import CompressionWorker
    from tessera.core.jobs import state_name

    runtime = _runtime()
    worker = CompressionWorker(runtime, available_methods())
    job = worker.start(request)
    last = ""
    while state_name(job.state) in ("QUEUED", "RUNNING"):
        if job.progress_message and job.progress_message != last:
            typer.echo(f"{job.progress:5.1%} {job.progress_message}", err=True)
            last = job.progress_message
        time.sleep(0.5)
        job = runtime.jobs.get(job.id)
    runtime.jobs.shutdown()
    return job


def _run_remote(server: str, request):  # type: ignore[no-untyped-def]
    import grpc

    from tessera.v1 import common_pb2, common_pb2_grpc, compression_pb2_grpc

    with grpc.insecure_channel(server) as channel:
        try:
            job = compression_pb2_grpc.CompressionStub(channel).Compress(request, timeout=120)
            for update in common_pb2_grpc.JobsStub(channel).WatchJob(common_pb2.WatchJobRequest(id=job.id)):
                typer.echo(f"{update.progress:5.1%} {update.progress_message}", err=True)
                job = update
        except grpc.RpcError as exc:
            typer.echo(f"{exc.code().name}: {exc.details()}", err=True)  # type: ignore[attr-defined]
            raise typer.Exit(2) from None
    return job


def _print_result(job, server: str) -> None:  # type: ignore[no-untyped-def]
    from tessera.core.jobs import state_name

    if state_name(job.state) != "SUCCEEDED":
        typer.echo(f"job {job.id} {state_name(job.state)}: {job.error.message}", err=True)
        raise typer.Exit(1)
    summary: dict[str, object] = {"job": job.id, "results": [r.uri for r in job.results]}
    if not server:
        from tessera.core.artifacts.factory import open_uri

        report = json.loads(b"".join(open_uri(job.results[1].uri)))
        summary |= {k: report.get(k) for k in ("method", "output_model", "accuracy", "baseline_accuracy",
                                               "unique_values", "entropy_bits_per_weight", "sparsity",
                                               "encoded_bytes", "fp32_bytes", "compression_ratio", "latency_ms")}
    typer.echo(json.dumps(summary, indent=2))


@compression_app.command("register")
def register_cmd(
    name: str = typer.Argument(..., help="Model name in the repository."),
    architecture: str = typer.Option("resnet_cnn", help="resnet_cnn, vit or deit_tiny."),
    kwargs: str = typer.Option("{}", help="Constructor kwargs as JSON."),
    state: Path | None = typer.Option(None, exists=True, dir_okay=False, help="torch state_dict (.pt)."),
    onnx_file: Path | None = typer.Option(None, "--onnx", exists=True, dir_okay=False,
                                          help="Register a plain ONNX model instead (int8 only)."),
    input_shape: str = typer.Option("1,28,28", help="C,H,W of one input."),
    classes: int = typer.Option(10, help="Output classes."),
) -> None:
    """Register a torch model (architecture + kwargs + state dict; untrained without --state) or an ONNX file."""
    import torch

    from tessera.compression.registry import InputSpec, ModelRegistry, build_architecture
    from tessera.core.errors import TesseraError

    runtime = _runtime()
    registry = ModelRegistry(runtime.models)
    try:
        if onnx_file is not None:
            done = registry.register_onnx(name, onnx_file.read_bytes())
        else:
            args = json.loads(kwargs)
            model = build_architecture(architecture, args)
            if state is not None:
                model.load_state_dict(torch.load(state, weights_only=True))
            spec = InputSpec(tuple(int(d) for d in input_shape.split(",")), classes)
            done = registry.register(name, model, architecture, args, spec)
    except TesseraError as exc:
        raise _fail(exc) from None
    typer.echo(json.dumps({"name": done.name, "version": done.version, "model": done.model.uri,
                           "torch": done.torch is not None}, indent=2))


@compression_app.command("train")
def train_cmd(
    name: str = typer.Argument(..., help="Register the trained model under this name."),
    architecture: str = typer.Option("resnet_cnn", help="resnet_cnn or vit."),
    dataset: str = typer.Option("fashion-mnist", help="fashion-mnist or mnist."),
    epochs: float = typer.Option(1.0),
    train_samples: int = typer.Option(10_000),
    test_samples: int = typer.Option(2_000),
    lr: float = typer.Option(0.05),
    seed: int = typer.Option(0),
) -> None:
    """Train a reference model on a built-in dataset and register it (the input of ``tessera compress``)."""
    import torch

    from tessera.compression.datasets import load_dataset
    from tessera.compression.registry import InputSpec, ModelRegistry, build_architecture
    from tessera.compression.training import TrainConfig, TrainData, evaluate_accuracy, train

    torch.manual_seed(seed)
    splits = load_dataset(dataset, train_limit=train_samples, test_limit=test_samples, seed=seed)
    kwargs = {"in_channels": splits.train.input_shape[0], "num_classes": splits.train.num_classes}
    model = build_architecture(architecture, kwargs)
    train(model, TrainData(splits.train.loader(128, shuffle=True, seed=seed)),
          TrainConfig(epochs=epochs, lr=lr, schedule="cosine"))
    accuracy = evaluate_accuracy(model, splits.test.loader(256))
    done = ModelRegistry(_runtime().models).register(
        name, model, architecture, kwargs, InputSpec(splits.train.input_shape, splits.train.num_classes),
        metrics={"accuracy": accuracy, "dataset": dataset, "test_samples": len(splits.test)})
    typer.echo(json.dumps({"name": done.name, "version": done.version, "accuracy": accuracy}, indent=2))
