"""A Triton python-backend model that runs ``model.onnx`` of its version directory with onnxruntime.

The dev stack's Triton (from the nvidia-pytriton wheel) has only the python backend, so
``serve_repository.py`` puts this file as ``model.py`` next to each version's ``model.onnx``.
Runs inside Triton's python stub (the PyTriton venv); Triton's dynamic batcher hands ``execute``
several requests at once and they run as one onnxruntime call.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils  # provided by Triton's python stub


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        options = ort.SessionOptions()
        threads = int(os.environ.get("TESSERA_TRITON_ORT_THREADS", "0"))  # 0: one per core
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self.input_names = [t["name"] for t in config["input"]]
        self.output_names = [t["name"] for t in config["output"]]
        self.batched = int(config.get("max_batch_size", 0)) > 0

    def _inputs(self, request):
        return {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.input_names}

    def _respond(self, outputs):
        return pb_utils.InferenceResponse([pb_utils.Tensor(n, np.ascontiguousarray(o)) for n, o in outputs.items()])

    def execute(self, requests):
        feeds = [self._inputs(r) for r in requests]
        if self.batched and len(requests) > 1:
            # One onnxruntime call for the whole dynamic batch, split back per request.
            try:
                merged = {n: np.concatenate([f[n] for f in feeds]) for n in self.input_names}
                results = self.session.run(self.output_names, merged)
            except Exception:  # rerun one by one so only the bad request fails
                return [self._run_one(f) for f in feeds]
            sizes = np.cumsum([f[self.input_names[0]].shape[0] for f in feeds])[:-1]
            split = [np.split(r, sizes) for r in results]
            return [self._respond({n: split[i][k] for i, n in enumerate(self.output_names)}) for k in range(len(feeds))]
        return [self._run_one(f) for f in feeds]

    def _run_one(self, feed):
        try:
            return self._respond(dict(zip(self.output_names, self.session.run(self.output_names, feed), strict=True)))
        except Exception as exc:  # reported to the caller as this request's error
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(exc)))
