"""Lineage (SageMaker's ``sagemaker.lineage``): what each job, model, endpoint and model package
consumed and produced. ``visualizer.LineageTableVisualizer`` shows one entity's table; ``mlyard
lineage URI`` walks up and down from an artifact."""
