"""The workflow runtime around SpiffWorkflow: deployment, execution, persistence."""
