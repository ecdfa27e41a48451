"""Decoders of media files to numpy arrays: images (``image``) and audio (``audio``).

They sit below ``batch`` and ``model`` (they import only ``squall.errors``), so the fetch
threads of a job and the models that read pictures themselves (chat models' ``image_url``
parts) decode with the same code. Their libraries are imported when first used.
"""

from squall.media.audio import AudioDecoder
from squall.media.image import IMAGE_MODES, ImageDecoder

__all__ = ["IMAGE_MODES", "AudioDecoder", "ImageDecoder"]
