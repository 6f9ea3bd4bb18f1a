"""Client of a dvml_tf model behind TensorFlow Serving: image files in, embeddings out.

    python -m dvml_tf.serving_client --server=http://localhost:8501 --model_name=dvml_digits \\
        a.jpg b.png                      # REST
    python -m dvml_tf.serving_client --server=localhost:8500 --grpc ...   # gRPC

Prints one JSON line per image: {"image": path, "embedding": [...]}.
"""
import base64
import functools
import json
import urllib.error
import urllib.request

import numpy as np
from absl import flags

from dvml_tf.cli import run_command
from dvml_tf.errors import UserError

INPUT_NAME = "image_bytes"
OUTPUT_NAME = "embeddings"


def read_images(paths):
    encoded = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                encoded.append(f.read())
        except OSError as error:
            raise UserError(f"{path}: cannot read ({error.strerror})") from None
    return encoded


def rest_request(encoded_images):
    """The JSON body of a TF Serving REST predict call on serving_default."""
    return {"instances": [{"b64": base64.b64encode(data).decode("ascii")}
                          for data in encoded_images]}


class ServerRejected(Exception):
    """The model server answered with an error for the images sent."""


def rest_response_embeddings(body, server):
    """Embeddings [N, D] from a TF Serving REST predict response; ServerRejected for its
    error, UserError for an answer that is not TF Serving's JSON."""
    try:
        reply = json.loads(body)
    except ValueError:
        start = body[:60].decode("utf-8", "replace").strip().splitlines()
        raise UserError(f"--server={server}: the answer is not TensorFlow Serving's JSON "
                        f"(it starts {start[0] if start else 'empty'!r})") from None
    if isinstance(reply, dict) and "error" in reply:
        raise ServerRejected(reply["error"])
    if not isinstance(reply, dict) or "predictions" not in reply:
        raise UserError(f"--server={server}: the answer has no predictions")
    return np.asarray(reply["predictions"], dtype=np.float32)


def predict_rest(server, model_name, encoded_images, timeout=60):
    url = f"{server.rstrip('/')}/v1/models/{model_name}:predict"
    data = json.dumps(rest_request(encoded_images)).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return rest_response_embeddings(response.read(), server)
    except urllib.error.HTTPError as error:
        return rest_response_embeddings(error.read(), server)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise UserError(f"--server={server}: cannot connect ({reason})") from None


def predict_each(predict, paths, encoded_images):
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
            rejected[path] = str(error)
    return embedded, rejected


def grpc_request(model_name, encoded_images):
    """A tensorflow_serving PredictRequest on serving_default."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = "serving_default"
    request.inputs[INPUT_NAME].CopyFrom(tf.make_tensor_proto(encoded_images, dtype=tf.string))
    return request


def predict_grpc(server, model_name, encoded_images, timeout=60):
    try:
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_service_pb2_grpc
    except ImportError:
        raise UserError("--grpc needs tensorflow-serving-api: pip install --no-deps "
                        "tensorflow-serving-api==2.15.1") from None
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server))
    try:
        response = stub.Predict(grpc_request(model_name, encoded_images), timeout)
    except grpc.RpcError as error:
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            raise ServerRejected(error.details()) from None
        raise UserError(f"--server={server}: {error.code().name}: {error.details()}") from None
    return tf.make_ndarray(response.outputs[OUTPUT_NAME])


FLAGS = flags.FLAGS


def define_flags():
    """The command line's flags; defined on use so that importing stays side-effect free."""
    flags.DEFINE_string("server", "http://localhost:8501", "REST URL, or host:port with --grpc.")
    flags.DEFINE_string("model_name", "dvml_digits", "The model's name on the server.")
    flags.DEFINE_boolean("grpc", False, "Use gRPC (tensorflow-serving-api) instead of REST.")


def main(argv):
    if len(argv) < 2:
        raise UserError("name at least one image file")
    paths = argv[1:]
    encoded = read_images(paths)
    predict = functools.partial(predict_grpc if FLAGS.grpc else predict_rest, FLAGS.server,
                                FLAGS.model_name)
    embedded, rejected = predict_each(predict, paths, encoded)
    for path in paths:
        if path in embedded:
            print(json.dumps({"image": path,
                              "embedding": [round(float(v), 6) for v in embedded[path]]}))
    if rejected:
        first = next(iter(rejected))
        raise UserError(f"{first}: the model server rejected it ({rejected[first][:160]})"
                        + (f"; {len(rejected) - 1} more rejected" if len(rejected) > 1 else ""))


def run():
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
