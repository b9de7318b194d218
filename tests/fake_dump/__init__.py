"""A fake of the FEC's weekly Schedule A database dump: a pg_dump custom-format writer
(writer.py), archives shaped like the FEC's (archive.py, schema.py), the loopback HTTP
servers that publish it (server.py), and real pg_dump 15 reference archives (reference/,
made by make_reference.py from reference_rows.py).

    snapshot = world.dump_snapshot()
    with FakeDumpServer(world_archive(world, snapshot)) as server:
        ...  # server.url, server.log, server.cut_next(...), server.replace(...)
"""

from .archive import fec_archive, world_archive
from .server import FakeDumpServer

__all__ = ["FakeDumpServer", "fec_archive", "world_archive"]
