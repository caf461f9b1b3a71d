"""A Trunkline channel plugin. TODO: say which provider it connects, in one line.

``plugin`` is the entry point (hooks only, nothing heavy imported); ``adapter`` is the
channel itself and the only module that imports the provider's SDK.
"""
