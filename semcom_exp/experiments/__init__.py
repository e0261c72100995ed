"""The experiments, grouped by paper as conf/experiment is (m2gsc/, lam_msc/; channels_sanity
checks the channel layer). Each experiment's `run(cfg, ctx) -> RunOutput` composes cached
stages (semcom_exp.stages) and never imports another experiment."""
