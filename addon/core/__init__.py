"""The add-on's parts that need no Blender: the connection check, a propagation run over the protocol, the local
engine's process, the mask rasteriser, contour splines and the result cache. Nothing here imports `bpy`
(`tests/test_imports.py` checks it), so these are tested in any Python, and the modules above them only
translate between Blender and these.
"""
