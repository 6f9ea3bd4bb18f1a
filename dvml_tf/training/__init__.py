"""A training run: its model folder (checkpoints, run config, lock), the fit loop and its
callbacks, tf.distribute strategies, and `run_modes`, which trains, evaluates and exports."""
