"""``creditgraph graph``: graph algorithms on analysts' edge lists (``rank`` for now)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console

console = Console()
err = Console(stderr=True)

graph_app = typer.Typer(
    name="graph", help="Credit-graph algorithms on edge lists.", no_args_is_help=True
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@graph_app.command("rank")
def rank_command(
    edges: Annotated[
        Path,
        typer.Argument(
            help="Edge list: CSV/TSV with header, Parquet, or whitespace .txt (src dst ...).",
            show_default=False,
        ),
    ],
    seeds: Annotated[
        Path,
        typer.Option(
            "--seeds",
            help="Bad nodes: one id per line, or CSV with a 'node' column.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Scores CSV to write.", show_default=False)],
    weight_column: Annotated[
        str | None, typer.Option("--weight-column", help="Edge weight column (default: none).")
    ] = None,
    negative_below: Annotated[
        float | None,
        typer.Option(
            "--negative-below",
            help="Signed graph: weight below X is distrust, not propagated (see docs/graph.md).",
        ),
    ] = None,
    rating_range: Annotated[
        tuple[float, float] | None,
        typer.Option(
            "--rating-range",
            help="Signed graph: the rating scale LO HI, mapped onto [-1, 1] for the goodness "
            "and fairness columns (default: -M M, M the largest |rating|).",
            show_default=False,
        ),
    ] = None,
    directed: Annotated[
        bool, typer.Option("--directed/--undirected", help="Propagate along src->dst only.")
    ] = False,
    alpha: Annotated[
        float, typer.Option("--alpha", help="Damping: chance to follow an edge.")
    ] = 0.85,
    src_column: Annotated[
        str | None, typer.Option("--src-column", help="Source column (default src/source/from/u).")
    ] = None,
    dst_column: Annotated[
        str | None, typer.Option("--dst-column", help="Target column (default dst/target/to/v).")
    ] = None,
    timestamp_column: Annotated[
        str, typer.Option("--timestamp-column", help="Epoch-seconds column used by --as-of.")
    ] = "timestamp",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Keep only edges with timestamp before this (epoch or ISO)."),
    ] = None,
    ignore_missing_seeds: Annotated[
        bool,
        typer.Option("--ignore-missing-seeds", help="Warn about seeds not in the graph, go on."),
    ] = False,
    max_iter: Annotated[
        int, typer.Option("--max-iter", help="Iteration cap (PageRank and reputation).")
    ] = 1000,
) -> None:
    """Exposure of every node to the SEEDS by personalised PageRank, written to --out."""
    from creditgraph.graph.csr import EdgeInputError, NegativeWeightError
    from creditgraph.graph.io import InputError, parse_as_of, read_edges, read_seeds, write_scores
    from creditgraph.graph.pagerank import ConvergenceError
    from creditgraph.graph.rank import RankConfig, UnknownSeedError, rank_risk
    from creditgraph.graph.reputation import RatingRangeError, ReputationConvergenceError

    if not 0.0 <= alpha < 1.0:
        raise _fail(f"--alpha must be in [0, 1), got {alpha}")
    if negative_below is not None and weight_column is None:
        raise _fail("--negative-below needs --weight-column (the rating column)")
    if rating_range is not None and negative_below is None:
        raise _fail("--rating-range needs --negative-below (a signed graph)")
    if rating_range is not None and not rating_range[0] < rating_range[1]:
        raise _fail(f"--rating-range needs LO < HI, got {rating_range[0]:g} {rating_range[1]:g}")
    if max_iter < 1:
        raise _fail(f"--max-iter must be >= 1, got {max_iter}")
    if not out.parent.exists():
        raise _fail(f"output directory does not exist: {out.parent}")
    try:
        cutoff = parse_as_of(as_of) if as_of is not None else None
        with err.status(f"Reading {edges.name}…"):
            table = read_edges(
                edges,
                src_column=src_column,
                dst_column=dst_column,
                weight_column=weight_column,
                timestamp_column=timestamp_column if cutoff is not None else None,
            )
            seed_list = read_seeds(seeds)
        if cutoff is not None and table.timestamp is not None:
            table = table.select(table.timestamp < cutoff)
        if table.src.size == 0:
            raise InputError(f"{edges}: no edges" + (" before --as-of" if cutoff else ""))
        config = RankConfig(
            alpha=alpha,
            directed=directed,
            negative_below=negative_below,
            max_iter=max_iter,
            ignore_missing_seeds=ignore_missing_seeds,
            rating_range=rating_range,
        )
        with err.status(f"Propagating from {seed_list.nodes.size:,} seeds…"):
            scores = rank_risk(
                table.src,
                table.dst,
                seed_list.nodes,
                weights=table.weight,
                seed_weights=seed_list.weights,
                config=config,
            )
        write_scores(out, scores.table())
    except InputError as exc:
        raise _fail(str(exc)) from None
    except RatingRangeError as exc:
        raise _fail(f"{table.where(exc.row)}: {weight_column}: {exc} (--rating-range)") from None
    except NegativeWeightError as exc:
        value = table.weight[exc.row] if table.weight is not None else float("nan")
        raise _fail(
            f"{table.where(exc.row)}: {weight_column} {value:g} is negative; "
            "pass --negative-below X to read a signed graph"
        ) from None
    except EdgeInputError as exc:
        raise _fail(f"{table.where(exc.row)}: {weight_column}: {exc}") from None
    except UnknownSeedError as exc:
        first = int(exc.positions[0])
        raise _fail(
            f"{seeds}: line {int(seed_list.lines[first])}: seed '{seed_list.nodes[first]}' is "
            f"not in the graph ({exc.positions.size} of {seed_list.nodes.size} seeds missing; "
            "--ignore-missing-seeds to go on)"
        ) from None
    except (ConvergenceError, ReputationConvergenceError) as exc:
        typer.echo(f"error: {exc}; raise --max-iter", err=True)
        raise typer.Exit(1) from None
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None

    if scores.seeds_missing:
        typer.echo(f"warning: {scores.seeds_missing} seed(s) not in the graph, ignored", err=True)
    rep = scores.report
    console.print(
        f"{scores.nodes.size:,} nodes, {rep.edges:,} edges "
        f"(self-loops {rep.self_loops:,}, duplicates merged {rep.duplicates:,}, "
        f"zero weight {rep.zero_weight:,}); seeds {int(np.sum(scores.is_seed)):,}",
        highlight=False,
        soft_wrap=True,
    )
    if negative_below is not None:
        console.print(
            f"trust edges {scores.trust_edges:,}, distrust edges {scores.distrust_edges:,}; "
            f"goodness and fairness (REV2) in {scores.reputation_iterations} iterations",
            highlight=False,
            soft_wrap=True,
        )
    console.print(f"wrote {out}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``graph`` sub-app to the root command."""
    app.add_typer(graph_app, name="graph")
