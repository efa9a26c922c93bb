"""Calibration report: measures a written output directory against the simulator's targets.

Everything is computed from the files (contract tables, and the ground truth when present), so the
same report checks a simulated directory or any other directory in the contract's format.

Definitions:

* graph: undirected, simple, over ``persons``; a pair is tied if any ``ties`` row (any kind, source
  or date) joins them. ``degree_mean`` counts people without ties too.
* ``clustering_global``: transitivity, 3 x triangles / connected triples (exact up to 1.5M people,
  above that estimated from 200,000 sampled people); ``clustering_avg_local`` is the mean local
  coefficient (0 for degree < 2).
* ``default_rate``: share of ``loan_outcomes`` rows with ``defaulted``.
* ``homophily_ratio``: among people with a loan outcome, P(contact defaulted | person defaulted) over
  ties, divided by the default rate: how much more often a defaulter's contact defaults. Ties inside
  one fraud ring are left out when ground truth is present (rings default together by design;
  ``homophily_ratio_all_ties`` keeps them). ``homophily_ratio_any_contact`` is
  P(default | at least one defaulted contact) / P(default).
* ``consent_coverage_rows``: share of social rows whose subject held a ``credit_assessment`` consent
  for the row's source valid at the row's time (what the ingest consent gate lets through);
  ``consent_coverage_people``: share of persons with any ``credit_assessment`` consent.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import igraph as ig
import numpy as np
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from creditgraph.contracts.schema import SOCIAL_TABLES, TABLES, Kind
from creditgraph.simulate.arrays import undirected_keys, unique_sorted
from creditgraph.simulate.config import FORMATS, TRUTH_DIR, TRUTH_FILE

EXACT_CLUSTERING_MAX = 1_500_000
CLUSTERING_SAMPLE = 200_000

_SQL_TYPES = {
    Kind.STRING: "VARCHAR",
    Kind.ENUM: "VARCHAR",
    Kind.INT: "BIGINT",
    Kind.MONEY: "DECIMAL(18, 2)",
    Kind.DATE: "DATE",
    Kind.TIMESTAMP: "TIMESTAMPTZ",
    Kind.BOOL: "BOOLEAN",
}


def table_files(out_dir: Path) -> dict[str, Path]:
    """The contract tables present in ``out_dir`` (one format per table)."""
    found: dict[str, Path] = {}
    for name in TABLES:
        paths = [
            out_dir / f"{name}.{fmt}" for fmt in FORMATS if (out_dir / f"{name}.{fmt}").exists()
        ]
        if len(paths) > 1:
            raise ValueError(f"{out_dir}: both {paths[0].name} and {paths[1].name} exist; keep one")
        if paths:
            found[name] = paths[0]
    return found


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _connect(files: dict[str, Path]) -> duckdb.DuckDBPyConnection:
    """Views named after the tables, every column cast to its contract type (bad values to NULL)."""
    con = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    # DuckDB 2.0 pushes TRY_CAST into the CSV scan as a strict cast, so one unparsable value
    # fails the query; keep casts out of the scan (the optimizer does not exist in 1.x).
    with contextlib.suppress(duckdb.Error):
        con.execute("SET disabled_optimizers = 'type_pushdown'")
    for name, path in files.items():
        spec = TABLES[name]
        if path.suffix == ".csv":
            source = f"read_csv({_quote(path)}, header = true, all_varchar = true)"
        else:
            source = f"read_parquet({_quote(path)})"
        present = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        cols = []
        for c in spec.all_columns:
            if c.name in present:
                cols.append(f'TRY_CAST("{c.name}" AS {_SQL_TYPES[c.kind]}) AS "{c.name}"')
            else:
                cols.append(f'CAST(NULL AS {_SQL_TYPES[c.kind]}) AS "{c.name}"')
        con.execute(f"CREATE VIEW {name} AS SELECT {', '.join(cols)} FROM {source}")
    return con


def _graph(con: duckdb.DuckDBPyConnection) -> tuple[int, NDArray[np.int64], NDArray[np.int64]]:
    """People numbered 0..n-1 (in a temp table ``idx``) and the simple undirected tie graph."""
    con.execute(
        "CREATE TEMP TABLE idx AS SELECT person_id, (row_number() OVER (ORDER BY person_id)) - 1 AS i "
        "FROM (SELECT DISTINCT person_id FROM persons WHERE person_id IS NOT NULL)"
    )
    n = int(con.execute("SELECT count(*) FROM idx").fetchall()[0][0])  # type: ignore[index]
    pairs = con.execute(
        "SELECT a.i AS a, b.i AS b FROM ties t "
        "JOIN idx a ON a.person_id = t.src JOIN idx b ON b.person_id = t.dst"
    ).fetchnumpy()
    a = np.asarray(pairs["a"], dtype=np.int64)
    b = np.asarray(pairs["b"], dtype=np.int64)
    keep = a != b
    keys = unique_sorted(undirected_keys(a[keep], b[keep], max(n, 1)))
    return n, keys // max(n, 1), keys % max(n, 1)


def _clustering(n: int, u: NDArray[np.int64], v: NDArray[np.int64]) -> tuple[float, float, bool]:
    g = ig.Graph(n=n, edges=np.column_stack([u, v]))
    avg_local = (
        float(g.transitivity_avglocal_undirected(mode="zero"))
        if n <= EXACT_CLUSTERING_MAX
        else float("nan")
    )
    if n <= EXACT_CLUSTERING_MAX:
        return float(g.transitivity_undirected()), avg_local, False
    rng = np.random.default_rng(0)
    sample = rng.choice(n, size=CLUSTERING_SAMPLE, replace=False)
    local = np.nan_to_num(
        np.array(g.transitivity_local_undirected(vertices=sample.tolist(), mode="zero"))
    )
    deg = np.array(g.degree(sample.tolist()), dtype=np.float64)
    wedges = deg * (deg - 1) / 2
    return float((local * wedges).sum() / max(wedges.sum(), 1.0)), float(local.mean()), True


def _labels(con: duckdb.DuckDBPyConnection, n: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per person index: has a loan outcome, and whether any of their loans defaulted."""
    res = con.execute(
        "SELECT i, bool_or(defaulted) AS y FROM loan_outcomes o JOIN idx USING (person_id) "
        "WHERE defaulted IS NOT NULL GROUP BY i"
    ).fetchnumpy()
    labelled = np.zeros(n, dtype=bool)
    y = np.zeros(n, dtype=bool)
    i = np.asarray(res["i"], dtype=np.int64)
    labelled[i] = True
    y[i] = np.asarray(res["y"], dtype=bool)
    return labelled, y


def _homophily(
    u: NDArray[np.int64], v: NDArray[np.int64], labelled: NDArray[np.bool_], y: NDArray[np.bool_]
) -> tuple[float, float]:
    base = float(y[labelled].mean()) if labelled.any() else float("nan")
    both = labelled[u] & labelled[v]
    a = np.concatenate([u[both], v[both]])
    b = np.concatenate([v[both], u[both]])
    from_defaulter = y[a]
    edge_ratio = (
        float(y[b][from_defaulter].mean() / base)
        if from_defaulter.any() and base > 0
        else float("nan")
    )
    exposed = np.bincount(a, weights=y[b].astype(np.float64), minlength=len(y)) > 0
    group = labelled & exposed
    any_ratio = float(y[group].mean() / base) if group.any() and base > 0 else float("nan")
    return edge_ratio, any_ratio


_T0 = -2_208_988_800  # 1900-01-01 UTC: packed times count seconds from here
_TIME_BITS = 33  # about 272 years


def _pack(key: NDArray[np.int64], t: NDArray[np.int64]) -> NDArray[np.int64]:
    return (key << _TIME_BITS) | np.clip(t - _T0, 0, 2**_TIME_BITS - 1)


def _consent_coverage(con: duckdb.DuckDBPyConnection, files: dict[str, Path]) -> dict[str, float]:
    """Exact gate pass rates. Consent validity intervals are merged per (person, source) into
    disjoint islands; a row passes when the last island starting at or before its time is still
    open then. The search runs on packed (person, source, time) integers in numpy, which is many
    times faster than an as-of join on strings."""
    out: dict[str, float] = {}
    if "consents" not in files:
        return out
    social = [t for t in SOCIAL_TABLES if t in files]
    sources = " UNION ".join(
        ["SELECT DISTINCT source FROM consents"]
        + [f"SELECT DISTINCT source FROM {t}" for t in social]
    )
    con.execute(
        "CREATE TEMP TABLE src_idx AS SELECT source, (row_number() OVER (ORDER BY source)) - 1 AS k "
        f"FROM ({sources}) WHERE source IS NOT NULL"
    )
    n_sources = max(int(con.execute("SELECT count(*) FROM src_idx").fetchall()[0][0]), 1)  # type: ignore[index]
    n_people = int(con.execute("SELECT count(*) FROM idx").fetchall()[0][0])  # type: ignore[index]
    if n_people * n_sources >= 2 ** (62 - _TIME_BITS):
        raise ValueError("too many people x sources for the packed consent search")
    islands = con.execute(
        """
        WITH ca AS (
            SELECT x.i * $s + k.k AS key, epoch(granted_at)::BIGINT AS g,
                   coalesce(epoch(least(expires_at, revoked_at)), epoch(expires_at),
                            epoch(revoked_at), 1e12)::BIGINT AS e
            FROM consents c JOIN idx x USING (person_id) JOIN src_idx k USING (source)
            WHERE purpose = 'credit_assessment' AND granted_at IS NOT NULL
        ), marked AS (
            SELECT *, CASE WHEN g <= max(e) OVER (PARTITION BY key ORDER BY g, e
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                      THEN 0 ELSE 1 END AS fresh
            FROM ca WHERE e > g
        ), numbered AS (
            SELECT *, sum(fresh) OVER (PARTITION BY key ORDER BY g, e ROWS UNBOUNDED PRECEDING)
                   AS island
            FROM marked
        )
        SELECT key, min(g) AS g, max(e) AS e FROM numbered GROUP BY key, island ORDER BY key, g
        """,
        {"s": n_sources},
    ).fetchnumpy()
    i_key = np.asarray(islands["key"], dtype=np.int64)
    i_start = _pack(i_key, np.asarray(islands["g"], dtype=np.int64))
    i_end = np.asarray(islands["e"], dtype=np.int64)
    order = np.argsort(i_start, kind="stable")
    i_key, i_start, i_end = i_key[order], i_start[order], i_end[order]

    total = passed = 0
    for name in social:
        spec = TABLES[name]
        subject, at = spec.consent_subject, spec.consent_time
        rows = con.execute(
            f"""
            SELECT coalesce(x.i * $s + k.k, -1) AS key,
                   coalesce(epoch(TRY_CAST(r."{at}" AS TIMESTAMPTZ))::BIGINT, 0) AS t
            FROM {name} r LEFT JOIN idx x ON x.person_id = r."{subject}"
            LEFT JOIN src_idx k ON k.source = r.source
            """,
            {"s": n_sources},
        ).fetchnumpy()
        key = np.asarray(rows["key"], dtype=np.int64)
        t = np.asarray(rows["t"], dtype=np.int64)
        pos = np.searchsorted(i_start, _pack(np.maximum(key, 0), t), side="right") - 1
        safe = np.maximum(pos, 0)
        ok = (
            (key >= 0) & (pos >= 0) & (i_key[safe] == key) & (t < i_end[safe])
            if len(i_key)
            else np.zeros(len(key), bool)
        )
        n, k_ok = len(key), int(np.count_nonzero(ok))
        out[f"consent_coverage.{name}"] = k_ok / n if n else float("nan")
        total += n
        passed += k_ok
    out["consent_coverage_rows"] = passed / total if total else float("nan")
    people_with = len(np.unique(i_key // n_sources))
    out["consent_coverage_people"] = people_with / n_people if n_people else float("nan")
    return out


def report(out_dir: Path) -> dict[str, float]:
    """Calibration metrics of the tables in ``out_dir`` (see the module docstring for definitions)."""
    out_dir = Path(out_dir)
    files = table_files(out_dir)
    missing = [t for t in ("persons", "ties") if t not in files]
    if missing:
        raise FileNotFoundError(f"{out_dir}: no {' or '.join(missing)} table (.parquet or .csv)")
    con = _connect(files)
    metrics: dict[str, float] = {}
    for name in files:
        metrics[f"rows.{name}"] = float(
            con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        )  # type: ignore[index]

    n, u, v = _graph(con)
    deg = np.bincount(np.concatenate([u, v]), minlength=n)
    metrics["people"] = float(n)
    metrics["tie_pairs"] = float(len(u))
    metrics["degree_mean"] = float(deg.mean()) if n else float("nan")
    metrics["degree_max"] = float(deg.max(initial=0))
    adj = coo_matrix((np.ones(len(u), dtype=np.int8), (u, v)), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    metrics["giant_component_share"] = float(np.bincount(comp).max() / n) if n else float("nan")
    trans, avg_local, sampled = _clustering(n, u, v)
    metrics["clustering_global"] = trans
    metrics["clustering_avg_local"] = avg_local
    metrics["clustering_sampled"] = float(sampled)

    truth = out_dir / TRUTH_DIR / TRUTH_FILE
    ring = np.full(n, -1, dtype=np.int64)
    if truth.exists():
        res = con.execute(
            f"SELECT i, fraud_ring_id FROM read_parquet({_quote(truth)}) JOIN idx USING (person_id) "
            "WHERE fraud_ring_id IS NOT NULL"
        ).fetchnumpy()
        ring[np.asarray(res["i"], dtype=np.int64)] = np.asarray(
            res["fraud_ring_id"], dtype=np.int64
        )
        metrics["fraud_ring_share"] = float((ring >= 0).mean()) if n else float("nan")
        metrics["fraud_rings"] = float(len(np.unique(ring[ring >= 0])))

    if "loan_outcomes" in files:
        metrics["default_rate"] = float(
            con.execute("SELECT avg(CAST(defaulted AS INTEGER)) FROM loan_outcomes").fetchall()[0][
                0
            ]  # type: ignore[index]
        )
        labelled, y = _labels(con, n)
        metrics["labelled_share"] = float(labelled.mean()) if n else float("nan")
        same_ring = (ring[u] >= 0) & (ring[u] == ring[v])
        ratio, any_ratio = _homophily(u[~same_ring], v[~same_ring], labelled, y)
        metrics["homophily_ratio"] = ratio
        metrics["homophily_ratio_all_ties"] = _homophily(u, v, labelled, y)[0]
        metrics["homophily_ratio_any_contact"] = any_ratio

    if "devices" in files:
        shared = con.execute(
            "SELECT count(DISTINCT person_id) FROM devices WHERE device_id IN "
            "(SELECT device_id FROM devices GROUP BY device_id HAVING count(DISTINCT person_id) > 1)"
        ).fetchall()[0][0]  # type: ignore[index]
        metrics["shared_device_people_share"] = float(shared) / n if n else float("nan")
    metrics.update(_consent_coverage(con, files))
    con.close()
    return metrics
