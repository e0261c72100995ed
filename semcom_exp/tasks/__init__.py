"""Tasks besides experiment pipelines: `task=collect`, `task=data_summary`."""
