"""Training data and the training loop of `python -m engine train`."""
