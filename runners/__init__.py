"""Jobs that wire a task to the inference engine, the scorers and the reports."""
