"""Group commit: concurrent writes share transactions, each caller gets its own result once committed, a
failing write fails alone, and a failed commit fails every write of its batch."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    event,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from cds_service.store.engine import create_store_engine
from cds_service.store.group_commit import GroupCommit, _Write

metadata = MetaData()
rows = Table("rows", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
def engine(tmp_path: Path) -> object:
    engine = create_store_engine(make_url(f"sqlite:///{tmp_path / 'group.db'}"))  # the service's SQLite setup
    metadata.create_all(engine)
    return engine


def add(name: str) -> object:
    def write(connection: Connection) -> int:
        return int(connection.execute(insert(rows).returning(rows.c.id), {"name": name}).scalar_one())

    return write


def names(engine: object) -> list[str]:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return sorted(connection.execute(select(rows.c.name)).scalars())


def test_concurrent_writers_each_get_their_own_committed_result(engine: object) -> None:
    group = GroupCommit(engine)  # type: ignore[arg-type]
    results: dict[str, int] = {}
    start = threading.Barrier(16)

    def writer(name: str) -> None:
        start.wait()
        results[name] = group.run(add(name))  # type: ignore[arg-type]

    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert names(engine) == sorted(results)
    assert len(set(results.values())) == 16  # each caller got the id of its own row
    with engine.connect() as connection:  # type: ignore[attr-defined]
        by_id = {row.id: row.name for row in connection.execute(select(rows.c.id, rows.c.name))}
    assert all(by_id[row_id] == name for name, row_id in results.items())


def test_a_failing_write_fails_alone_in_its_batch(engine: object) -> None:
    group = GroupCommit(engine)  # type: ignore[arg-type]
    group.run(add("taken"))  # type: ignore[arg-type]
    batch = [_Write(add("a")), _Write(add("taken")), _Write(add("b"))]  # type: ignore[arg-type]

    group._commit(batch)

    assert [item.done for item in batch] == [True, True, True]
    assert isinstance(batch[1].error, IntegrityError)
    assert batch[0].error is None and batch[2].error is None
    assert names(engine) == ["a", "b", "taken"]


def test_a_failed_commit_fails_every_write_of_the_batch(engine: object) -> None:
    group = GroupCommit(engine)  # type: ignore[arg-type]

    @event.listens_for(engine, "commit")
    def refuse(_connection: object) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    batch = [_Write(add("a")), _Write(add("b"))]  # type: ignore[arg-type]
    group._commit(batch)

    with pytest.raises(OperationalError):
        group.run(add("c"))  # type: ignore[arg-type]
    event.remove(engine, "commit", refuse)

    assert all(isinstance(item.error, OperationalError) for item in batch)
    assert all(item.result is None for item in batch)
    assert names(engine) == []
