"""Data layer: manifest, images, synthetic pairs, datasets."""
