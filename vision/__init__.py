"""The image and model core: decode, preprocess (one image and stacked), segment, infer.

Plain Python with numpy, Pillow and LiteRT: no Django here. `recognizer` (web, API, records)
and `training` both build on it, and not on each other.
"""
