"""M2GSC (multi-user generative semantic communication): split DDPM decoding, Fig. 5."""
