"""Client of a dvml_tf model behind TensorFlow Serving: encoded images in, embeddings out,
over REST or gRPC (the command line: dvml_tf/cli/serving_client.py)."""
import base64
import json
import urllib.error
import urllib.request
from typing import Callable, Dict, List, Tuple

import numpy as np

from dvml_tf.errors import UserError, flag, one_line, require_extra
from dvml_tf.files import read_file

INPUT_NAME = "image_bytes"
OUTPUT_NAME = "embeddings"


def read_images(paths: List[str]) -> List[bytes]:
    encoded = []
    for path in paths:
        try:
            encoded.append(read_file(path))
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror})") from None
    return encoded


def rest_request(encoded_images: List[bytes]) -> dict:
    """The JSON body of a TF Serving REST predict call on serving_default."""
    return {"instances": [{"b64": base64.b64encode(data).decode("ascii")}
                          for data in encoded_images]}


class ServerRejected(Exception):
    """The model server answered with an error for the images sent."""


def _model_not_served(model_name: str, server: str, reason: str) -> UserError:
    return UserError(f"{flag('model_name')}={model_name}: {server} serves no such model "
                     f"({one_line(reason, 160)})")


def _embeddings_output(outputs, model_name: str):
    """The embeddings among a model's named outputs; UserError naming those it has."""
    if OUTPUT_NAME not in outputs:
        raise UserError(f"{flag('model_name')}={model_name}: the model answers with "
                        f"{', '.join(sorted(outputs))}, not {OUTPUT_NAME}: not a dvml_tf export")
    return outputs[OUTPUT_NAME]


def rest_response_embeddings(body: bytes, server: str, model_name: str,
                             status: int = 200) -> np.ndarray:
    """Embeddings [N, D] from a TF Serving REST predict response, in its row format (one
    list per image, or one {output name: value} per image for a model of several named
    outputs). ServerRejected for an error about the images; UserError for a model the
    server does not have (HTTP 404) or an answer that is not TF Serving's JSON."""
    try:
        reply = json.loads(body)
    except ValueError:
        start = body[:60].decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"{flag('server')}={server}: the answer is not TensorFlow Serving's JSON "
                        f"(it starts {start[0] if start else 'empty'!r})") from None
    if isinstance(reply, dict) and "error" in reply:
        if status == 404:
            raise _model_not_served(model_name, server, str(reply["error"]))
        raise ServerRejected(reply["error"])
    if not isinstance(reply, dict) or not isinstance(reply.get("predictions"), list):
        raise UserError(f"{flag('server')}={server}: the answer has no predictions")
    rows = reply["predictions"]
    if rows and isinstance(rows[0], dict):
        rows = [_embeddings_output(row, model_name) for row in rows]
    try:
        return np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise UserError(f"{flag('model_name')}={model_name}: its predictions are not embeddings "
                        "(not a dvml_tf export)") from None


def predict_rest(server: str, model_name: str, encoded_images: List[bytes],
                 timeout: float = 60) -> np.ndarray:
    url = f"{server.rstrip('/')}/v1/models/{model_name}:predict"
    data = json.dumps(rest_request(encoded_images)).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return rest_response_embeddings(response.read(), server, model_name)
    except urllib.error.HTTPError as error:
        return rest_response_embeddings(error.read(), server, model_name, error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"{flag('server')}={server}: cannot connect ({reason})") from None


def predict_each(predict: Callable[[List[bytes]], np.ndarray], paths: List[str],
                 encoded_images: List[bytes]) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(embeddings by path, {path: server's error}): one request for all the images; when
    the server rejects it, one request per image, so each bad image is named and the
    others still get their embeddings."""
    try:
        return dict(zip(paths, predict(encoded_images))), {}
    except ServerRejected:
        pass
    embedded, rejected = {}, {}
    for path, data in zip(paths, encoded_images):
        try:
            embedded[path] = predict([data])[0]
        except ServerRejected as error:
            rejected[path] = one_line(str(error), 160)
    return embedded, rejected


def grpc_request(model_name: str, encoded_images: List[bytes]):
    """A tensorflow_serving PredictRequest on serving_default."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "serving_default"
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(encoded_images, dtype=tf.string))
    return request


def predict_grpc(server: str, model_name: str, encoded_images: List[bytes],
                 timeout: float = 60) -> np.ndarray:
    require_extra("grpc", f"{flag('grpc')}")
    require_extra("tensorflow_serving", f"{flag('grpc')}")
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server))
    try:
        response = stub.Predict(grpc_request(model_name, encoded_images), timeout)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ServerRejected(error.details()) from None
        if error.code() == grpc.StatusCode.NOT_FOUND:
            raise _model_not_served(model_name, server, error.details()) from None
        raise UserError(f"{flag('server')}={server}: {error.code().name}: "
                        f"{error.details()}") from None
    return tf.make_ndarray(_embeddings_output(response.outputs, model_name))
