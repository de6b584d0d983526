"""A folder drop: a partner (a telehealth brand, a clinic) puts order files in a folder the
pharmacy watches and reads each move back as a result file. ``layout`` is the shared file
layout (the lines, the folders, the atomic writes), ``source`` the
:class:`~rxfloor.core.sources.base.OrderSource`; its stand-in is ``rxfloor.sandbox.folder``."""
