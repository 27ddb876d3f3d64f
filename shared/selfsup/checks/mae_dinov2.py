"""Public self-checks for Notebook 3 (pretrained MAE and DINOv2)."""
