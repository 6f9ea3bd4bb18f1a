"""The one place dvml_tf imports Keras: the Keras 2 API, which is tf-keras on TensorFlow
>= 2.16 (whose own `tf.keras` is Keras 3) and TensorFlow's built-in Keras on 2.15. A later
port to Keras 3 starts here."""
from dvml_tf.stack import OLDEST, check_stack, tensorflow_version

check_stack()
if tensorflow_version() > OLDEST:
    import tf_keras as keras
else:
    from tensorflow import keras

layers = keras.layers

__all__ = ["keras", "layers"]
