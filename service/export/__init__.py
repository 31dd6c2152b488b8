"""Models leaving the service: an ONNX graph and a self-contained JSON scoring document."""
