"""TF Serving's gRPC services, on the generated servicers of tensorflow-serving-api.

grpcio's thread-pool server, not grpc.aio: measured here, the asyncio server answered half the
requests at one connection and fewer at 32 (its event loop held the interpreter lock for 1.3 ms
per request; docs/serving.md)."""

from __future__ import annotations

import time

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_shape_pb2, types_pb2
from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc

from serving import errors, limits
from serving.predictor import Predictor


NO_CLASSIFY_OR_REGRESS = "classify and regress are not served: this model has predict signatures only"


def _ndarray(proto) -> np.ndarray:
    """tf.make_ndarray, with a direct path for strings (the reviews): with tf.make_tensor_proto, a sixth
    of Predict's time went to the general ones. The string count was checked against the shape (limits.py)."""
    if proto.dtype == types_pb2.DT_STRING:
        return np.array(proto.string_val, dtype=object).reshape([d.size for d in proto.tensor_shape.dim])
    return tf.make_ndarray(proto)


def _fill_tensor_proto(proto, array: np.ndarray) -> None:
    """tf.make_tensor_proto, with a direct path for numeric arrays (the probabilities)."""
    if array.dtype == object:
        proto.CopyFrom(tf.make_tensor_proto(array))
        return
    proto.dtype = tf.as_dtype(array.dtype).as_datatype_enum
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in array.shape)
    proto.tensor_content = np.ascontiguousarray(array).tobytes()


def _version(model_spec):
    version = model_spec.version.value if model_spec.HasField("version") else None
    return version, (model_spec.version_label or None)


class Services(prediction_service_pb2_grpc.PredictionServiceServicer, model_service_pb2_grpc.ModelServiceServicer):
    """Both of TF Serving's gRPC services (their methods' names differ), on one Predictor."""

    def __init__(self, predictor: Predictor):
        self.predictor = predictor

    def Predict(self, request, context):
        started = time.perf_counter()
        status = grpc.StatusCode.OK
        try:
            loaded, signature = self.predictor.resolve(request.model_spec.name, *_version(request.model_spec),
                                                       request.model_spec.signature_name)
            specs = loaded.inputs[signature]
            for name, proto in request.inputs.items():  # before any array is made from it
                spec = specs.get(name)
                self.predictor.limits.check_tensor_proto(name, proto, limits.inner_elements(spec.shape) if spec else 1)
            try:
                inputs = {k: _ndarray(v) for k, v in request.inputs.items()}
            except (TypeError, ValueError) as error:
                raise errors.invalid_argument(f"Invalid input tensor: {error}") from error
            outputs = self.predictor.result(self.predictor.submit(loaded, signature, inputs), started)
            unknown = [k for k in request.output_filter if k not in outputs]
            if unknown:
                raise errors.invalid_argument(f"output tensor alias not found in signature: {unknown[0]}")
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(self.predictor.model_spec(loaded, signature))
            for name in request.output_filter or outputs:
                _fill_tensor_proto(response.outputs[name], outputs[name])
            return response
        except errors.ServingError as error:
            status = error.code
            context.abort(error.code, error.message)
        finally:
            self.predictor.record(request.model_spec.name, "grpc", "predict", status.name, started)

    def GetModelMetadata(self, request, context):
        try:
            unsupported = [f for f in request.metadata_field if f != "signature_def"]
            if unsupported or not request.metadata_field:
                raise errors.invalid_argument(
                    f"Metadata field {unsupported[0] if unsupported else '(none)'} is not supported")
            return self.predictor.metadata(request.model_spec.name, *_version(request.model_spec))
        except errors.ServingError as error:
            context.abort(error.code, error.message)

    def Classify(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, NO_CLASSIFY_OR_REGRESS)

    Regress = Classify

    def GetModelStatus(self, request, context):
        try:
            return self.predictor.status(request.model_spec.name, *_version(request.model_spec))
        except errors.ServingError as error:
            context.abort(error.code, error.message)


def add_services(server: grpc.Server, predictor: Predictor) -> None:
    services = Services(predictor)
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(services, server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(services, server)
