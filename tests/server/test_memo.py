"""``core.memo.VersionedMemo``: what is remembered under a version holds for that version only, and a
request that read an older version neither reads nor fills the memory."""

from __future__ import annotations

from core.memo import VersionedMemo


def test_a_newer_version_starts_afresh() -> None:
    memo: VersionedMemo[str, int] = VersionedMemo(10)
    assert memo.turn(5)
    memo.put(5, "slot", 1)
    assert memo.get(5, "slot") == 1
    assert memo.turn(6)
    assert memo.get(6, "slot") is None
    assert memo.get(5, "slot") is None  # nothing of version 5 is answered any more


def test_an_older_version_neither_reads_nor_writes() -> None:
    memo: VersionedMemo[str, int] = VersionedMemo(10)
    memo.put(7, "slot", 1)
    assert not memo.turn(6)
    assert memo.get(6, "slot") is None
    memo.put(6, "slot", 2)  # read before a write that version 7 has seen: not kept
    memo.put(6, "other", 3)
    assert memo.get(7, "slot") == 1
    assert memo.get(7, "other") is None


def test_a_value_read_while_a_newer_version_came_is_not_kept() -> None:
    memo: VersionedMemo[str, int] = VersionedMemo(10)
    assert memo.turn(1)  # a request reads under version 1 ...
    assert memo.turn(2)  # ... another one has seen version 2 meanwhile
    memo.put(1, "slot", 1)
    assert memo.get(2, "slot") is None


def test_a_full_memory_starts_again() -> None:
    memo: VersionedMemo[int, int] = VersionedMemo(3)
    for n in range(3):
        memo.put(1, n, n)
    memo.put(1, 3, 3)
    assert [memo.get(1, n) for n in range(4)] == [None, None, None, 3]
    memo.forget(3)
    assert memo.get(1, 3) is None
