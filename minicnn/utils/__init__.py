"""Small helpers shared by the applications (image files for now)."""

from .images import ImageError, conversion_note, load_image, save_image, to_uint8

__all__ = ["ImageError", "conversion_note", "load_image", "save_image", "to_uint8"]
