"""Child process for test_seed_e2e: loads never-synced units from a dump through
sync.seed.Seeder, with batches of 50 rows, and freezes the writer thread right after the
first batch has committed, printing "committed <rows>", until it is killed.

Usage: python -m tests.seed_kill_child DB API_URL API_KEY DUMP_URL CYCLE COMMITTEE...
"""

from __future__ import annotations

import sys
import threading

from db.writer import CommitResult, SeedRows
from fec.budget import RateBudget
from fec.client import FecClient
from sync.seed import Seeder


def freeze_after_first_batch(result: CommitResult) -> None:
    if isinstance(result.message, SeedRows):
        print(f"committed {len(result.message.rows)}", flush=True)
        threading.Event().wait()  # the writer stops here, its batch committed


def main(db: str, api_url: str, key: str, dump_url: str, cycle: int,
         committees: list[str]) -> int:
    stop = threading.Event()
    client = FecClient(key, api_url, budget=RateBudget(1000), stop=stop, backoff_factor=0.01)
    seeder = Seeder(db, dump_url, client, stop=stop, per_page=100, quiet=True,
                    backoff_factor=0.01, batch_rows=50, on_commit=freeze_after_first_batch)
    seeder.run([(committee, cycle) for committee in committees])
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5], int(sys.argv[5]), sys.argv[6:]))
