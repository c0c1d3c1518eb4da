"""A small client of TF Serving's public REST and gRPC predict APIs for this model, so it works the same
against `tensorflow_model_server` and the project's own server:

    client = SentimentClient("localhost:8500", protocol="grpc")
    client.predict(["A wonderful film.", "Two hours I will never get back."])  # -> [0.97, 0.03]
"""

from __future__ import annotations

import contextlib
from typing import List, Optional, Sequence

from common import serving_contract

PROTOCOLS = ("rest", "grpc")
DEFAULT_PORTS = {"rest": serving_contract.REST_PORT, "grpc": serving_contract.GRPC_PORT}


class ServingRequestError(RuntimeError):
    """The server refused the request; `status` is the HTTP status or the gRPC code's name."""

    def __init__(self, status, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class SentimentClient(contextlib.AbstractContextManager):  # `with` yields the client, closed after
    def __init__(self, server: str = "localhost", protocol: str = "rest", model_name: str = serving_contract.MODEL_NAME,
                 version: Optional[int] = None, signature: str = serving_contract.SERVING_SIGNATURE,
                 timeout: float = 30.0):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, not {protocol!r}")
        if ":" not in server.rsplit("]", 1)[-1]:
            server = f"{server}:{DEFAULT_PORTS[protocol]}"
        self.server, self.protocol, self.model_name = server, protocol, model_name
        self.version, self.signature, self.timeout = version, signature, timeout
        if protocol == "rest":
            import requests

            self._session = requests.Session()
            base = server if server.startswith("http") else f"http://{server}"
            self._url = f"{base}/v1/models/{model_name}" + (f"/versions/{version}" if version else "")
        else:
            import grpc
            from tensorflow_serving.apis import prediction_service_pb2_grpc

            self._channel = grpc.insecure_channel(server)
            self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, reviews: Sequence[str]) -> List[float]:
        """Probability of a positive review, one per review."""
        reviews = list(reviews)
        if not reviews:
            return []
        if self.protocol == "rest":
            response = self._session.post(f"{self._url}:predict", timeout=self.timeout,
                                          json={"signature_name": self.signature, "instances": reviews})
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if response.status_code != 200:
                raise ServingRequestError(response.status_code, body.get("error", response.text))
            return [float(p) for p in body["predictions"]]
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest(model_spec={"name": self.model_name, "signature_name": self.signature})
        if self.version:
            request.model_spec.version.value = self.version
        request.inputs[serving_contract.REVIEWS_INPUT].CopyFrom(
            tf.make_tensor_proto([r.encode("utf-8") for r in reviews], dtype=tf.string))
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingRequestError(error.code().name, error.details()) from error
        return [float(p) for p in tf.make_ndarray(response.outputs[serving_contract.PROBABILITY_OUTPUT]).reshape(-1)]

    def close(self) -> None:
        if self.protocol == "rest":
            self._session.close()
        else:
            self._channel.close()

    def __exit__(self, *exc):
        self.close()
