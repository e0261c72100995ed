"""semcom_exp: a Hydra + Lightning runner that reproduces LAM-MSC and M2GSC experiments."""

__version__ = "0.1.0"
