"""Served models: evaluating a model behind an inference server (model.adapter=served);
see adapter.py."""
