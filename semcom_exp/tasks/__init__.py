"""Tasks besides running an experiment: `task=collect`, `task=data_summary`."""
