"""The ``rxfloor`` command (see :mod:`rxfloor.tui.cli.main`).

Every start of the command imports rxfloor's own modules. In an editable install (``uv
sync`` of a checkout: the README's ``uv run rxfloor``) they live outside site-packages, so
uv's ``compile-bytecode`` does not compile them, and where ``PYTHONDONTWRITEBYTECODE`` is
set (many container images, these machines) Python recompiles every one of them on every
start: about 110 ms of CPU per ``rxfloor start`` at this size of the code, paid by each
scan of a scanner script. The command therefore writes the bytecode of what it imports,
whatever that variable says (only files Python would cache anyway; third-party packages
are compiled at install and the standard library ships compiled).
"""

import sys

sys.dont_write_bytecode = False
