"""Small helpers shared by the applications (image files for now)."""

from .images import ImageError, load_image, save_image, to_uint8

__all__ = ["ImageError", "load_image", "save_image", "to_uint8"]
