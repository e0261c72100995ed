"""Multi-stage experiments: each `run(cfg, ctx) -> RunOutput` composes cached stages."""
