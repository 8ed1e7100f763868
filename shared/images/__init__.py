"""Image services (Pillow). Imported only by image consumers: order functions never load PIL."""
