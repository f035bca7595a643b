"""Classical baselines: raw pixels, eigenfaces, Fisherfaces, LBP and learned verification metrics."""
