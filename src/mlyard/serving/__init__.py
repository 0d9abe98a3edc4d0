"""Model serving: handlers that load and run models, codecs for content types, adaptive
batching, and the model server that speaks SageMaker's, TensorFlow Serving's and the Open
Inference Protocol's HTTP APIs on one port."""
