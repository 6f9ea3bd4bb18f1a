"""Client of a dvml_tf model behind TensorFlow Serving: image files in, embeddings out.

    python -m dvml_tf.serving_client --server=http://localhost:8501 --model_name=dvml_digits \\
        a.jpg b.png                      # REST
    python -m dvml_tf.serving_client --server=localhost:8500 --grpc ...   # gRPC

Prints one JSON line per image: {"image": path, "embedding": [...]}.
"""
import base64
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


def rest_response_embeddings(body):
    """Embeddings [N, D] from a TF Serving REST predict response (or its error)."""
    reply = json.loads(body)
    if "error" in reply:
        raise UserError(f"the model server answered: {reply['error']}")
    return np.asarray(reply["predictions"], dtype=np.float32)


def predict_rest(server, model_name, encoded_images, timeout=60):
    url = f"{server.rstrip('/')}/v1/models/{model_name}:predict"
    data = json.dumps(rest_request(encoded_images)).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return rest_response_embeddings(response.read())
    except urllib.error.HTTPError as error:
        return rest_response_embeddings(error.read())
    except urllib.error.URLError as error:
        raise UserError(f"--server={server}: cannot connect ({error.reason})") from None


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
    encoded = read_images(argv[1:])
    predict = predict_grpc if FLAGS.grpc else predict_rest
    embeddings = predict(FLAGS.server, FLAGS.model_name, encoded)
    for path, embedding in zip(argv[1:], embeddings):
        print(json.dumps({"image": path, "embedding": [round(float(v), 6) for v in embedding]}))


def run():
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
