"""Backbones, the DVML encoder/decoder heads and the trainable DVML model: Keras 3 on
TensorFlow; any other stack is a one-line UserError here, before a Keras name is used."""
from dvml_tf.stack import check_stack

check_stack()
