"""The CLI's real jobs (``seqlayers train TASK``, ``seqlayers predict``): each a small file that only
wires library pieces; shared plumbing in ``common.py``, the sub-commands in ``commands.py``."""
