"""The Step Functions Data Science SDK's API (``steps``, ``workflow``, ``inputs``), run by the
mlyard server's workflow engine: a notebook written for AWS Step Functions runs here after
changing its imports."""
