"""LAM-MSC (multimodal semantic communication): CGE, SC link, LKB, MMA bits, end to end."""
