"""Run history in an embedded DuckDB file: every margin, stress, backtest and SIMM run.

Location
--------
``RunStore(path)`` uses ``path``; without one, :func:`default_store_path`:
``$CROSSMARGIN_STORE`` if set, else ``$XDG_DATA_HOME/crossmargin/runs.duckdb``, else
``~/.local/share/crossmargin/runs.duckdb``. The file and its folder are created on the
first write; reading a store that does not exist yet finds no runs.

Schema (version 1, created on first write)
------------------------------------------
``meta``          key VARCHAR PRIMARY KEY, value VARCHAR. Holds ``schema_version``.
``runs``          one row per run:

                  ===============  =========  =============================================
                  run_id           VARCHAR    primary key, ``r-YYYYMMDDTHHMMSS-<8 hex>``
                                              (UTC): sorts by time
                  kind             VARCHAR    margin | stress | backtest | simm | cascade
                  created_at       TIMESTAMP  when recorded, UTC (microseconds)
                  model            VARCHAR    registry name of the model
                  parameters       JSON       parameters in force (canonical JSON)
                  market_asof      TIMESTAMP  valuation time of the market snapshot, UTC
                  market_source    VARCHAR    where the snapshot came from
                  inputs_hash      VARCHAR    SHA-256 of the canonical JSON of book rows
                                              (positions and collateral) + model +
                                              parameters + market source
                  book_source      VARCHAR    the book file (or ``sample``)
                  status           VARCHAR    ``ok`` for a completed run
                  version          VARCHAR    crossmargin version that computed it
                  result           JSON       the result's ``to_dict()``
                  ===============  =========  =============================================

``run_accounts``  one row per account of a run, for per-account history:
                  run_id, account (primary key together), total, standalone, netted,
                  benefit (DOUBLE, NULL where the result has none) and components (JSON
                  object of the account's netted components).

A store written before a run kind existed accepts it from its first open by this version
(the ``runs`` table is rebuilt with the wider check, rows unchanged, in one transaction).

Atomicity and concurrency
-------------------------
Each run is written in one short transaction (``BEGIN`` … ``COMMIT``): its rows are prepared
first, the account rows go in as one bulk insert (20,000 accounts in well under a second),
and any failure rolls the transaction back, so a process killed before ``COMMIT`` leaves no
trace of the run (DuckDB writes its log only at commit). DuckDB allows one writing process
per file: each operation attaches the file to the process's one in-memory DuckDB instance,
does its work and detaches it again (which writes a checkpoint and frees the file; an
attach costs ~1 ms where starting an instance per operation cost 25-50 ms). A store held by
another process is waited for, with a bounded retry (``wait`` seconds, default
:data:`DEFAULT_WAIT` or ``$CROSSMARGIN_STORE_WAIT``); reads attach the file read-only.

Errors
------
Every problem is a :class:`~crossmargin.errors.StoreError` of one line naming the file: still
busy after the wait, not a DuckDB file, a DuckDB database that is not a run store (it is never
adopted: no table is created in it), a run store whose tables lack their columns (corrupt), a
newer schema, or an OS error while writing (``No space left on device``, never hidden behind a
failed rollback). A computation whose recording fails is not lost: the CLI prints its result
and says it was not recorded (exit code 6).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from crossmargin.errors import InputError, StoreError
from crossmargin.store_records import (
    FIGURES,
    KINDS,
    AccountDelta,
    AccountRecord,
    RunDiff,
    RunRecord,
    RunSummary,
    account_rows,
    as_float,
    canonical_json,
    default_store_path,
    inputs_digest,
    new_run_id,
    utc_aware,
    utc_naive,
)
from crossmargin.store_records import result_json as write_result_json

SCHEMA_VERSION = 1

logger = logging.getLogger("crossmargin.store")

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS runs ("
    " run_id VARCHAR PRIMARY KEY,"
    f" kind VARCHAR NOT NULL CHECK (kind IN ({', '.join(repr(k) for k in KINDS)})),"
    " created_at TIMESTAMP NOT NULL, model VARCHAR NOT NULL, parameters JSON NOT NULL,"
    " market_asof TIMESTAMP, market_source VARCHAR NOT NULL, inputs_hash VARCHAR NOT NULL,"
    " book_source VARCHAR NOT NULL, status VARCHAR NOT NULL, version VARCHAR NOT NULL,"
    " result JSON NOT NULL)",
    "CREATE TABLE IF NOT EXISTS run_accounts ("
    " run_id VARCHAR NOT NULL, account VARCHAR NOT NULL, total DOUBLE, standalone DOUBLE,"
    " netted DOUBLE, benefit DOUBLE, components JSON NOT NULL,"
    " PRIMARY KEY (run_id, account))",
)

_SUMMARY_SQL = (
    "SELECT r.run_id, r.kind, r.created_at, r.model, r.market_asof, r.book_source, r.status,"
    " count(a.account), sum(a.total) FROM runs r LEFT JOIN run_accounts a USING (run_id)"
)
_SUMMARY_GROUP = (
    " GROUP BY r.run_id, r.kind, r.created_at, r.model, r.market_asof, r.book_source, r.status"
)
_ACCOUNT_SQL = (
    "SELECT r.run_id, r.created_at, r.kind, r.model, a.account, a.total, a.standalone,"
    " a.netted, a.benefit, a.components FROM run_accounts a JOIN runs r USING (run_id)"
)


#: Seconds a run waits for a store another process holds, unless told otherwise.
DEFAULT_WAIT = 30.0
_COLUMNS = {
    "meta": ("key", "value"),
    "runs": (
        "run_id", "kind", "created_at", "model", "parameters", "market_asof", "market_source",
        "inputs_hash", "book_source", "status", "version", "result",
    ),
    "run_accounts": (
        "run_id", "account", "total", "standalone", "netted", "benefit", "components",
    ),
}  # fmt: skip


def default_wait() -> float:
    """``$CROSSMARGIN_STORE_WAIT`` seconds if set (a number >= 0), else :data:`DEFAULT_WAIT`."""
    text = os.environ.get("CROSSMARGIN_STORE_WAIT", "").strip()
    if not text:
        return DEFAULT_WAIT
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"CROSSMARGIN_STORE_WAIT {text!r} is not a number of seconds") from None
    if not value >= 0.0 or value == float("inf"):
        raise InputError(f"CROSSMARGIN_STORE_WAIT must be a finite number >= 0, got {text!r}")
    return value


def _runs_named(ids: Sequence[str]) -> str:
    """``run ID was`` for one run; ``N runs (ID, ID, ... and N-2 more) were`` for a batch,
    so that a failed batch of hundreds does not give every run a message naming them all."""
    if len(ids) == 1:
        return f"run {ids[0]} was"
    shown = ", ".join(ids[:2])
    more = f" and {len(ids) - 2} more" if len(ids) > 2 else ""
    return f"{len(ids)} runs ({shown}{more}) were"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back if a transaction is open; a failed rollback never hides the first error."""
    with contextlib.suppress(duckdb.Error):
        con.rollback()


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``BEGIN`` … ``COMMIT``; any exception rolls the transaction back and goes on."""
    con.begin()
    try:
        yield
        con.commit()
    except BaseException:
        _rollback(con)
        raise


#: Arrow types of the written tables' columns (JSON columns arrive as text).
_ARROW_TYPES = {
    "runs": ("string", "string", "timestamp", "string", "string", "timestamp", "string",
             "string", "string", "string", "string", "string"),
    "run_accounts": ("string", "string", "float64", "float64", "float64", "float64", "string"),
}  # fmt: skip


#: A run ready to insert: its id, its ``runs`` row and its ``run_accounts`` rows.
PreparedRun = tuple[str, tuple[Any, ...], list[tuple[Any, ...]]]
_ALIAS = "crossmargin_store"  # the attached file's name in the host instance
_NEW_ROWS = "_new_rows"  # the Arrow table of rows being inserted
_HOST_LOCK = threading.RLock()  # one file attached at a time per process
_HOST: list[tuple[int, duckdb.DuckDBPyConnection]] = []  # (pid, connection) once started
_INHERITED: list[duckdb.DuckDBPyConnection] = []  # a parent's, kept unreleased after a fork


def _host() -> duckdb.DuckDBPyConnection:
    """This process's in-memory DuckDB instance, which attaches a store file for each
    operation. Starting a DuckDB instance costs 25-50 ms (its catalog of built-in functions),
    an ``ATTACH`` about 1 ms: a service writing a batch of runs each second, or reading
    ``GET /v1/runs/ID``, paid the start each time.

    A forked child starts its own and never releases the parent's: that one's destructor
    would wait for DuckDB threads the child does not have (it hangs)."""
    if _HOST and _HOST[0][0] != os.getpid():
        _drop_host()  # a parent's: parked, not closed
    if not _HOST:
        _HOST.append((os.getpid(), duckdb.connect(":memory:")))
    return _HOST[0][1]


def _drop_host() -> None:
    """Close the host instance (releasing any file it holds); the next use starts another. A
    parent's instance, inherited by a fork, is parked in :data:`_INHERITED` instead."""
    if _HOST and _HOST[0][0] == os.getpid():
        with contextlib.suppress(duckdb.Error):
            _HOST.pop()[1].close()
    elif _HOST:
        _INHERITED.append(_HOST.pop()[1])


def _close_before_fork() -> None:
    """Close the host before ``os.fork``: a child must not inherit a live instance. Unless a
    thread is using it at that moment; then the child keeps it unreleased (:func:`_host`)."""
    if _HOST_LOCK.acquire(blocking=False):
        try:
            _drop_host()
        finally:
            _HOST_LOCK.release()


def _unlock_in_child() -> None:
    """A fork's child starts with the lock free: the thread that held it is not there."""
    global _HOST_LOCK
    _HOST_LOCK = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_close_before_fork, after_in_child=_unlock_in_child)


class RunStore:
    """The run history in one DuckDB file (see the module docstring for schema and rules).

    Parameters
    ----------
    path:
        The DuckDB file; :func:`default_store_path` when omitted.
    wait:
        Seconds to wait for a store another process holds (:func:`default_wait`).
    """

    def __init__(self, path: Path | str | None = None, *, wait: float | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.wait = default_wait() if wait is None else max(0.0, float(wait))

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    # ----------------------------------------------------------------- connection
    @contextmanager
    def _connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Attach the file (a writer creates it and its schema if needed), yield, detach.

        The file is attached to the process's one in-memory DuckDB instance (:func:`_host`)
        as the default database, so the statements name its tables alone; the detach writes
        a checkpoint and frees the file for other processes, as closing a connection did. A
        lock held by another process is retried until :attr:`wait` seconds have passed.
        """
        if not read_only:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"cannot create the run store folder {self.path.parent}: "
                    f"{error.strerror or error}"
                ) from None
        with _HOST_LOCK:
            con = self._open(read_only)
            try:
                self._ensure_schema(con, read_only=read_only)
                yield con
            except duckdb.Error as error:
                raise StoreError(
                    f"run store {self.path} cannot be used ({_first_line(error)}); it may be "
                    "corrupt: choose another file with --store PATH"
                ) from None
            finally:
                self._detach(con)

    def _open(self, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The host connection with the file attached (as :data:`_ALIAS`) and in use."""
        con = _host()
        mode = " (READ_ONLY)" if read_only else ""
        path = str(self.path).replace("'", "''")
        deadline = time.monotonic() + self.wait
        pause = 0.05
        while True:
            try:
                con.execute(f"ATTACH '{path}' AS {_ALIAS}{mode}")
                con.execute(f"USE {_ALIAS}")
                return con
            except duckdb.IOException as error:
                text = str(error)
                if "lock" not in text.lower():
                    raise StoreError(
                        f"cannot open run store {self.path}: {_first_line(error)}"
                    ) from None
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"run store {self.path} is in use by another process (waited "
                        f"{self.wait:g} s); try again, or choose another file with --store PATH "
                        "(or --no-store)"
                    ) from None
                time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 2, 1.0)
            except duckdb.Error as error:
                raise StoreError(
                    f"{self.path} is not a usable run store ({_first_line(error)}); "
                    "choose another file with --store PATH"
                ) from None

    def _detach(self, con: duckdb.DuckDBPyConnection) -> None:
        """Detach the file, checkpointing what was committed. Should the detach fail (no
        space for the checkpoint), the whole host instance is closed, which releases the
        file all the same, and a warning is logged: what was committed is in the file's log,
        which the next opener replays, so the operation's outcome stands."""
        _rollback(con)  # a transaction left open by an error
        with contextlib.suppress(duckdb.Error):
            con.unregister(_NEW_ROWS)  # left by a failed insert (a no-op otherwise)
        try:
            con.execute("USE memory")
            con.execute(f"DETACH {_ALIAS}")
        except duckdb.Error as error:
            _drop_host()
            logger.warning(
                "run store %s: the checkpoint at close failed (%s); the next use replays "
                "the log", self.path, _first_line(error),
            )  # fmt: skip

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection, *, read_only: bool = False) -> None:
        """Check the file is a run store of a known schema (create it in an empty file)."""
        tables = {
            t
            for (t,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database()"
            ).fetchall()
        }
        row = None
        if "meta" in tables:
            row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None and tables:
            raise StoreError(
                f"{self.path} is a DuckDB database but not a crossmargin run store (tables: "
                f"{', '.join(sorted(tables))}); it is left untouched: choose another file "
                "with --store PATH"
            )
        if row is not None:
            if not str(row[0]).isdigit():
                raise StoreError(f"run store {self.path} has a corrupt schema version {row[0]!r}")
            if int(row[0]) > SCHEMA_VERSION:
                raise StoreError(
                    f"run store {self.path} has schema version {row[0]}, newer than this "
                    f"crossmargin understands ({SCHEMA_VERSION}); upgrade crossmargin"
                )
            self._check_columns(con)
            if not read_only:
                self._widen_kinds(con)
            return
        if read_only:
            return  # an empty database: no runs yet
        con.begin()
        try:
            for statement in _SCHEMA:
                con.execute(statement)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
            con.commit()
        except BaseException:
            _rollback(con)
            raise

    def _widen_kinds(self, con: duckdb.DuckDBPyConnection) -> None:
        """Let a store written before a run kind existed take every kind of :data:`KINDS`.

        The ``runs`` table's check lists the kinds it accepts; when one of today's kinds is
        missing (a ``cascade`` run in a store from before issue 14) the table is rebuilt with
        the current check, rows unchanged, in one transaction.
        """
        # the table's own CREATE statement holds its check; ``duckdb_constraints()`` would
        # scan every constraint of the catalog (~9 ms a file opened, each batch a writer writes)
        row = con.execute(
            "SELECT sql FROM duckdb_tables() WHERE database_name = current_database()"
            " AND table_name = 'runs'"
        ).fetchone()
        if row is None or "CHECK" not in str(row[0]) or all(f"'{k}'" in str(row[0]) for k in KINDS):
            return
        with _transaction(con):
            con.execute("ALTER TABLE runs RENAME TO runs_before_widening")
            con.execute(_SCHEMA[1])
            con.execute("INSERT INTO runs SELECT * FROM runs_before_widening")
            con.execute("DROP TABLE runs_before_widening")

    def _check_columns(self, con: duckdb.DuckDBPyConnection) -> None:
        """Each table of :data:`_COLUMNS` has exactly its columns, in order (read from an empty
        query's description: ``duckdb_columns()`` lists the whole catalog, ~11 ms a file
        opened)."""
        found: dict[str, list[str]] = {}
        for table in _COLUMNS:
            try:  # table: a fixed name
                described = con.execute(f"SELECT * FROM {table} LIMIT 0").description or []
            except duckdb.CatalogException:
                continue  # no such table: reported below
            found[table] = [str(d[0]) for d in described]
        for table, columns in _COLUMNS.items():
            if found.get(table) != list(columns):
                raise StoreError(
                    f"run store {self.path} is corrupt: table {table} has columns "
                    f"{', '.join(found.get(table, [])) or 'none'}, expected {', '.join(columns)}; "
                    "choose another file with --store PATH"
                )

    # ----------------------------------------------------------------- writing
    def record(
        self,
        kind: str,
        *,
        model: str,
        parameters: Mapping[str, Any],
        market_asof: datetime | date | None,
        book_source: str,
        book_rows: Sequence[Mapping[str, Any]],
        result: Mapping[str, Any],
        market_source: str = "",
        status: str = "ok",
        accounts_from: Sequence[Path] | None = None,
        result_json: str | None = None,
    ) -> str:
        """Record one run atomically and return its run id.

        Parameters
        ----------
        kind:
            ``margin``, ``stress``, ``backtest``, ``simm`` or ``cascade``.
        model, parameters:
            The model's registry name and the parameters in force.
        market_asof, market_source:
            The snapshot's valuation time and where it came from.
        book_source, book_rows:
            The book file and its rows (dicts); the rows enter the inputs hash only.
        result:
            The result's ``to_dict()``; its ``accounts`` list (if any) fills
            ``run_accounts``.
        accounts_from:
            Parquet files of per-account rows (columns ``account``, ``total``,
            ``standalone``, ``netted``, ``benefit`` and ``components`` as canonical JSON: the
            accounts files of a distributed run, :mod:`crossmargin.distributed.output`) that
            fill ``run_accounts`` too, read by DuckDB in the same transaction.
        result_json:
            The JSON text of ``result`` when the caller has written it already (the
            service's answer): stored as it is; else written here.
        """
        run_id, run_row, accounts = self.prepare_run(
            kind, model=model, parameters=parameters, market_asof=market_asof,
            book_source=book_source, book_rows=book_rows, result=result,
            market_source=market_source, status=status, result_json=result_json,
        )  # fmt: skip
        self._write([(run_id, run_row, accounts)], accounts_from)
        return run_id

    def record_many(self, runs: Sequence[Mapping[str, Any]]) -> list[str]:
        """Record several runs in one transaction (all or none) and return their ids.

        Each mapping holds the keyword arguments of :meth:`record` (``kind`` included) and
        optionally ``run_id`` and ``created_at``, chosen by a caller that hands the id out
        before the run is written. Rows are prepared before the file is opened, so the
        transaction is short. (The service's background writer uses the two halves apart:
        :meth:`prepare_run` on the request's thread, :meth:`write_prepared` on the writer's.)
        """
        prepared = [self.prepare_run(**dict(run)) for run in runs]
        self.write_prepared(prepared)
        return [p[0] for p in prepared]

    def write_prepared(self, prepared: Sequence[PreparedRun]) -> None:
        """Insert runs made ready by :meth:`prepare_run`, in one transaction (all or none)."""
        if prepared:
            self._write(prepared)

    def prepare_run(
        self,
        kind: str,
        *,
        model: str,
        parameters: Mapping[str, Any],
        market_asof: datetime | date | None,
        book_source: str,
        book_rows: Sequence[Mapping[str, Any]],
        result: Mapping[str, Any],
        market_source: str = "",
        status: str = "ok",
        run_id: str | None = None,
        created_at: datetime | None = None,
        result_json: str | None = None,
    ) -> PreparedRun:
        """``(run id, runs row, run_accounts rows)`` of one run, ready to insert (the
        keyword arguments of :meth:`record`, and ``run_id`` and ``created_at`` when the
        caller chose them)."""
        if kind not in KINDS:
            raise InputError(f"unknown run kind {kind!r} (have: {', '.join(KINDS)})")
        now = created_at if created_at is not None else datetime.now(UTC)
        run_id = run_id if run_id is not None else new_run_id(now)
        parameters_json = canonical_json(parameters)
        digest = inputs_digest(book_rows, model, parameters_json, market_source)
        from crossmargin import __version__

        run_row = (
            run_id,
            kind,
            utc_naive(now),
            model,
            parameters_json,
            utc_naive(market_asof),
            market_source,
            digest,
            book_source,
            status,
            __version__,
            write_result_json(result) if result_json is None else result_json,
        )
        return run_id, run_row, account_rows(result)

    def _write(
        self,
        prepared: Sequence[PreparedRun],
        accounts_from: Sequence[Path] | None = None,
    ) -> None:
        """Insert prepared runs in one transaction (``accounts_from``: Parquet files of
        per-account rows for a single run, read by DuckDB in the same transaction)."""
        accounts = [(run_id, *row) for run_id, _, rows in prepared for row in rows]
        with self._connect() as con:
            try:
                with _transaction(con):
                    self._insert_rows(con, "runs", [run_row for _, run_row, _ in prepared])
                    self._insert_rows(con, "run_accounts", accounts)
                    if accounts_from:  # one run's accounts, written as Parquet
                        ((run_id, _, _),) = prepared
                        con.execute(
                            "INSERT INTO run_accounts SELECT ?, account, total, standalone,"
                            " netted, benefit, components FROM read_parquet(?)",
                            [run_id, [str(f) for f in accounts_from]],
                        )
            except duckdb.Error as error:
                raise StoreError(
                    f"{_runs_named([p[0] for p in prepared])} not recorded in {self.path}: "
                    f"{_first_line(error)}"
                ) from None

    def _insert_rows(
        self, con: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Insert ``rows`` (tuples in ``table``'s column order) with one statement: the rows
        of a whole batch of runs become one Arrow table that DuckDB scans. Per-row
        ``executemany`` costs milliseconds a row, and one statement per run most of a
        writer's time."""
        if not rows:
            return
        import pyarrow as pa

        types = {"string": pa.string(), "float64": pa.float64(), "timestamp": pa.timestamp("us")}
        arrays = [
            pa.array([row[k] for row in rows], type=types[kind])
            for k, kind in enumerate(_ARROW_TYPES[table])
        ]
        con.register(_NEW_ROWS, pa.Table.from_arrays(arrays, names=list(_COLUMNS[table])))
        # no ``finally``: after a failed insert the transaction is aborted and an unregister
        # would raise over the real error; the detach unregisters it after the rollback
        con.execute(f"INSERT INTO {table} SELECT * FROM {_NEW_ROWS}")  # fixed names
        con.unregister(_NEW_ROWS)

    # ----------------------------------------------------------------- reading
    def get(self, run_id: str) -> RunRecord:
        """The stored run ``run_id``; InputError if there is none."""
        row = None
        if self.path.exists():
            with self._connect(read_only=True) as con:
                row = con.execute(
                    "SELECT run_id, kind, created_at, model, parameters, market_asof,"
                    " market_source, inputs_hash, book_source, status, version, result"
                    " FROM runs WHERE run_id = ?",
                    [run_id],
                ).fetchone()
        if row is None:
            raise InputError(
                f"no run {run_id!r} in run store {self.path}; "
                "see `crossmargin runs list` for the recorded ids"
            )
        return RunRecord(
            run_id=row[0],
            kind=row[1],
            created_at=row[2].replace(tzinfo=UTC),
            model=row[3],
            parameters=json.loads(row[4]),
            market_asof=utc_aware(row[5]),
            market_source=row[6],
            inputs_hash=row[7],
            book_source=row[8],
            status=row[9],
            version=row[10],
            result=json.loads(row[11]),
        )

    def list(
        self, limit: int | None = 20, kind: str | None = None, model: str | None = None
    ) -> tuple[RunSummary, ...]:
        """The most recent runs first, optionally of one ``kind`` and/or ``model``."""
        if limit is not None and limit < 1:
            raise InputError(f"--limit must be at least 1, got {limit}")
        if kind is not None and kind not in KINDS:
            raise InputError(f"unknown run kind {kind!r} (have: {', '.join(KINDS)})")
        if not self.path.exists():
            return ()
        where, args = [], []
        for column, value in (("kind", kind), ("model", model)):
            if value is not None:
                where.append(f"r.{column} = ?")
                args.append(value)
        sql = _SUMMARY_SQL + (" WHERE " + " AND ".join(where) if where else "") + _SUMMARY_GROUP
        sql += " ORDER BY r.created_at DESC, r.run_id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect(read_only=True) as con:
            rows = con.execute(sql, args).fetchall()
        return tuple(self._summary(row) for row in rows)

    @staticmethod
    def _summary(row: Sequence[Any]) -> RunSummary:
        return RunSummary(
            run_id=row[0],
            kind=row[1],
            created_at=row[2].replace(tzinfo=UTC),
            model=row[3],
            market_asof=utc_aware(row[4]),
            book_source=row[5],
            status=row[6],
            accounts=int(row[7]),
            total=as_float(row[8]) if row[7] else None,
        )

    def _summary_of(self, con: duckdb.DuckDBPyConnection, run_id: str) -> RunSummary:
        row = con.execute(
            _SUMMARY_SQL + " WHERE r.run_id = ?" + _SUMMARY_GROUP, [run_id]
        ).fetchone()
        if row is None:
            raise InputError(
                f"no run {run_id!r} in run store {self.path}; "
                "see `crossmargin runs list` for the recorded ids"
            )
        return self._summary(row)

    @staticmethod
    def _account(row: Sequence[Any]) -> AccountRecord:
        return AccountRecord(
            run_id=row[0],
            created_at=row[1].replace(tzinfo=UTC),
            kind=row[2],
            model=row[3],
            account=row[4],
            total=row[5],
            standalone=row[6],
            netted=row[7],
            benefit=row[8],
            components=json.loads(row[9]),
        )

    def accounts(self, run_id: str) -> tuple[AccountRecord, ...]:
        """The per-account rows of one run, in account order."""
        self.get(run_id)  # unknown id -> InputError
        with self._connect(read_only=True) as con:
            rows = con.execute(
                _ACCOUNT_SQL + " WHERE a.run_id = ? ORDER BY a.account", [run_id]
            ).fetchall()
        return tuple(self._account(row) for row in rows)

    def diff(self, first: str, second: str) -> RunDiff:
        """What changed from run ``first`` to run ``second`` (deltas are second − first)."""
        one, two = self.get(first), self.get(second)
        with self._connect(read_only=True) as con:
            summaries = self._summary_of(con, first), self._summary_of(con, second)
            by_run: dict[str, dict[str, AccountRecord]] = {first: {}, second: {}}
            rows = con.execute(
                _ACCOUNT_SQL + " WHERE a.run_id IN (?, ?) ORDER BY a.account", [first, second]
            ).fetchall()
        for row in rows:
            rec = self._account(row)
            by_run[rec.run_id][rec.account] = rec
        a, b = by_run[first], by_run[second]
        keys = sorted(set(one.parameters) | set(two.parameters))
        changes = {
            k: (one.parameters.get(k), two.parameters.get(k))
            for k in keys
            if canonical_json(one.parameters.get(k)) != canonical_json(two.parameters.get(k))
            or (k in one.parameters) != (k in two.parameters)
        }
        return RunDiff(
            first=summaries[0],
            second=summaries[1],
            accounts=tuple(
                AccountDelta(account=k, first=a[k], second=b[k]) for k in sorted(a.keys() & b)
            ),
            only_in_first=tuple(sorted(a.keys() - b.keys())),
            only_in_second=tuple(sorted(b.keys() - a.keys())),
            parameter_changes=changes,
            first_inputs_hash=one.inputs_hash,
            second_inputs_hash=two.inputs_hash,
        )

    def account_history(self, account: str, model: str | None = None) -> tuple[AccountRecord, ...]:
        """``account``'s figures across runs, oldest first (optionally one model only)."""
        if not self.path.exists():
            return ()
        sql, args = _ACCOUNT_SQL + " WHERE a.account = ?", [account]
        if model is not None:
            sql += " AND r.model = ?"
            args.append(model)
        with self._connect(read_only=True) as con:
            rows = con.execute(sql + " ORDER BY r.created_at, r.run_id", args).fetchall()
        return tuple(self._account(row) for row in rows)


__all__ = [
    "DEFAULT_WAIT",
    "FIGURES",
    "KINDS",
    "SCHEMA_VERSION",
    "AccountDelta",
    "AccountRecord",
    "PreparedRun",
    "RunDiff",
    "RunRecord",
    "RunStore",
    "RunSummary",
    "default_store_path",
    "default_wait",
    "new_run_id",
]
