"""Search spaces: YAML distributions on dotted config paths, translated for Ray Tune / Optuna."""
