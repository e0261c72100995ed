"""Modality <-> text: semantic encoders/decoders, layout rasters and bit accounting."""
