"""One function per figure; each reads a run dir's result files and never re-runs training."""
