"""Cached training stages any experiment calls (the CGE generator, the SC model, the LKB's LM
and adapters), so that no experiment imports another. Experiments live in
``semcom_exp.experiments``; each stage here is keyed in the artifact cache by its own config."""
