"""Starting the real `tritonserver` (from the nvidia-pytriton wheel here, or a system install)."""
