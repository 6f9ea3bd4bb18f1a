"""The command lines: the only modules that define absl flags.

train.py (`python -m dvml_tf.main`) turns its flags into a RunConfig; evaluate.py,
visualize.py, index.py and serving_client.py are the other commands. common.py holds what
they share: one-line errors with exit status 2.
"""
