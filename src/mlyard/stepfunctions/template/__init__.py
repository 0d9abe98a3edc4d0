"""Workflow templates (``template.pipeline``)."""
