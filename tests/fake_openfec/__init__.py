"""A faithful fake of the OpenFEC API (Schedule A keyset paging, committee look-ups,
api.data.gov keys and rate limits, network faults) over a generated, deterministic world.

    world = generate_world(seed=1, politicians=20)
    with FakeOpenFec(world, rate_limit=(1000, 3600.0)) as fake:
        ...  # fake.url, fake.legislators_url, fake.log, world.expected_rows()
"""

from .gate import Gate
from .gateway import Faults
from .server import FakeOpenFec, Logged
from .world import World, generate_world

__all__ = ["FakeOpenFec", "Faults", "Gate", "Logged", "World", "generate_world"]
