"""The runtime stores: the same behaviour in memory and in SQLite."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from echo_model.serving.core.sqlite_store import SqliteStore
from echo_model.serving.core.store import MemoryStore, RuntimeStore

HELLO = {"match": {"userMessage": "hello"}, "response": {"content": "Hi!"}}
MINE = {"match": {"userMessage": "x", "context": "a"}, "response": {"content": "A"}}


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RuntimeStore:
    if request.param == "memory":
        return MemoryStore(max_entries=5)
    return SqliteStore(tmp_path / "run.sqlite3", max_entries=5)


def test_added_fixtures_keep_their_order_and_change_the_version(
    store: RuntimeStore,
) -> None:
    versions = [store.fixtures_version()]
    assert store.add_fixtures([HELLO, MINE]) == 0
    versions.append(store.fixtures_version())
    assert store.add_fixtures([HELLO]) == 2
    versions.append(store.fixtures_version())
    assert store.runtime_fixtures() == [HELLO, MINE, HELLO]
    assert store.remove_fixtures("a") == 1
    versions.append(store.fixtures_version())
    assert store.remove_fixtures("a") == 0
    assert store.fixtures_version() == versions[-1]  # nothing changed
    assert store.runtime_fixtures() == [HELLO, HELLO]
    store.clear_fixtures()
    versions.append(store.fixtures_version())
    assert store.runtime_fixtures() == []
    assert len(set(map(str, versions))) == len(versions)


def test_a_claim_counts_once_per_place_under_threads(store: RuntimeStore) -> None:
    def claim_all(_: int) -> list[int]:
        return [n for n in range(50) if store.claim("c", "p", n)]

    with ThreadPoolExecutor(8) as pool:
        won = sorted(n for ns in pool.map(claim_all, range(8)) for n in ns)
    assert won == list(range(50))  # every place claimed, none twice
    assert store.count("c", "p") == 50
    assert store.count("other", "p") == 0
    assert store.claim("other", "p", 0)
    store.reset("c")
    assert (store.count("c", "p"), store.count("other", "p")) == (0, 1)
    store.reset()
    assert store.count("other", "p") == 0


def test_the_journal_keeps_the_newest_entries(store: RuntimeStore) -> None:
    for i in range(8):
        store.append_entry({"i": i, "body": {"text": "é"}})
    assert [e["i"] for e in store.entries()] == [3, 4, 5, 6, 7]
    store.clear_entries()
    assert store.entries() == []


def test_two_sqlite_stores_on_one_file_share_everything(tmp_path: Path) -> None:
    one, two = (SqliteStore(tmp_path / "run.sqlite3") for _ in range(2))
    before = two.fixtures_version()
    one.add_fixtures([HELLO])
    assert two.fixtures_version() != before
    assert two.runtime_fixtures() == [HELLO]
    assert one.claim("", "p", 0)
    assert not two.claim("", "p", 0)
    assert two.claim("", "p", 1)
    one.append_entry({"i": 1})
    two.append_entry({"i": 2})
    assert [e["i"] for e in one.entries()] == [1, 2]
    journal_mode = one._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert journal_mode == "wal"
