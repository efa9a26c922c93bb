"""``creditgraph graph rank``: scores on small files and on bitcoin_alpha; bad input is one line."""

from __future__ import annotations

import csv
from pathlib import Path

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from creditgraph.cli.main import app
from creditgraph.graph.rank import RankConfig, rank_risk

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
runner = CliRunner()

# two triangles joined by a bridge 2-3; node 0 is the known defaulter
EDGES = [("0", "1"), ("1", "2"), ("2", "0"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "3")]


def shared_file(*parts: str) -> Path:
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def read_scores(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_rank_small_csv_matches_networkx(tmp_path: Path) -> None:
    edges = write(tmp_path / "e.csv", "src,dst\n" + "".join(f"{u},{v}\n" for u, v in EDGES))
    seeds = write(tmp_path / "seeds.txt", "# known bad\n0\n")
    out = tmp_path / "scores.csv"
    code, stdout, stderr = invoke("graph", "rank", edges, "--seeds", seeds, "--out", out)
    assert code == 0, stderr
    assert "6 nodes, 7 edges" in stdout
    rows = read_scores(out)
    assert rows[0]["node"] == "0"
    assert list(rows[0]) == [
        "node",
        "exposure",
        "exposure_rank",
        "is_seed",
        "degree",
        "expected_exposure",
        "relative_exposure",
    ]
    by_node = {r["node"]: r for r in rows}
    ref = nx.pagerank(nx.Graph(EDGES), personalization={"0": 1}, tol=1e-15, max_iter=1000)
    for node, value in ref.items():
        assert abs(float(by_node[node]["exposure"]) - value) < 1e-9
    assert by_node["0"]["is_seed"] == "true" and by_node["0"]["exposure_rank"] == "1"
    assert by_node["2"]["degree"] == "3"
    assert sum(float(r["exposure"]) for r in rows) == pytest.approx(1.0)
    # the far triangle is less exposed than chance; the seed's own triangle more
    assert float(by_node["5"]["relative_exposure"]) < 1 < float(by_node["1"]["relative_exposure"])


def test_rank_reads_snap_text_and_parquet_alike(tmp_path: Path) -> None:
    text = write(
        tmp_path / "e.txt", "# SNAP style\r\n" + "".join(f"{u}\t{v}\r\n" for u, v in EDGES)
    )
    table = pa.table({"source": [int(u) for u, _ in EDGES], "target": [int(v) for _, v in EDGES]})
    parquet = tmp_path / "e.parquet"
    pq.write_table(table, parquet)
    seeds = write(tmp_path / "seeds.csv", "node,weight\n0,1\n4,3\n")
    outs = []
    for i, src in enumerate((text, parquet)):
        out = tmp_path / f"s{i}.csv"
        code, _, stderr = invoke("graph", "rank", src, "--seeds", seeds, "--out", out)
        assert code == 0, stderr
        outs.append(out.read_text())
    assert outs[0] == outs[1]
    top = read_scores(tmp_path / "s0.csv")[0]
    assert top["node"] == "4"  # weighted three times as heavily as seed 0


def test_rank_directed_follows_edges_and_as_of_filters(tmp_path: Path) -> None:
    edges = write(tmp_path / "e.csv", "src,dst,timestamp\n0,1,10\n1,2,20\n2,3,30\n9,0,5\n")
    seeds = write(tmp_path / "s.txt", "0\n")
    out = tmp_path / "o.csv"
    code, _, stderr = invoke(
        "graph", "rank", edges, "--seeds", seeds, "--out", out, "--directed", "--as-of", "25"
    )
    assert code == 0, stderr
    scores = {r["node"]: float(r["exposure"]) for r in read_scores(out)}
    assert set(scores) == {"0", "1", "2", "9"}  # the edge at t=30 is not known yet
    assert scores["9"] == 0.0 and scores["2"] > 0  # exposure flows src -> dst only


@pytest.mark.parametrize(
    ("edges_text", "seeds_text", "extra", "expected"),
    [
        (None, "0\n", [], "edges file not found"),
        ("a,b\n0,1\n", "0\n", [], "missing column 'src'"),
        ("src,dst\n0,1\n1,2\n", "0\n7\n", [], "line 2: seed '7' is not in the graph"),
        ("src,dst,w\n0,1,1\n1,2,abc\n", "0\n", ["--weight-column", "w"], "line 3: w 'abc' is not"),
        ("src,dst,w\n0,1,1\n1,2,-4\n", "0\n", ["--weight-column", "w"], "line 3: w -4 is negative"),
        ("src,dst\n0,1\n", "0\n", ["--weight-column", "weight"], "missing column 'weight'"),
        ("src,dst\n0,1\n,2\n", "0\n", [], "line 3: src is empty"),
        ("src,dst\n0,1\n", "node;x\n", [], "not in the graph"),
        ("src,dst\n0,1\n", "0\n", ["--negative-below", "0"], "needs --weight-column"),
        ("src,dst\n0,1\n", "0\n", ["--alpha", "1.5"], "--alpha must be in [0, 1)"),
        (
            "src,dst,w\n0,1,1\n1,2,9\n",
            "0\n",
            ["--weight-column", "w", "--negative-below", "0", "--rating-range", "-5", "5"],
            "line 3: w: rating 9 is outside the rating range [-5, 5]",
        ),
        ("src,dst\n0,1\n", "0\n", ["--rating-range", "-5", "5"], "needs --negative-below"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, edges_text: str | None, seeds_text: str, extra: list[str], expected: str
) -> None:
    edges = tmp_path / "edges.csv"
    if edges_text is not None:
        write(edges, edges_text)
    seeds = write(tmp_path / "seeds.txt", seeds_text)
    code, _, stderr = invoke(
        "graph", "rank", edges, "--seeds", seeds, "--out", tmp_path / "o.csv", *extra
    )
    assert code == 2
    assert expected in stderr
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert "Traceback" not in stderr


def test_missing_seeds_can_be_ignored(tmp_path: Path) -> None:
    edges = write(tmp_path / "e.csv", "src,dst\n0,1\n1,2\n")
    seeds = write(tmp_path / "s.txt", "0\n7\n")
    out = tmp_path / "o.csv"
    code, _, stderr = invoke(
        "graph", "rank", edges, "--seeds", seeds, "--out", out, "--ignore-missing-seeds"
    )
    assert code == 0
    assert "1 seed(s) not in the graph" in stderr
    assert len(read_scores(out)) == 3


def test_signed_graph_splits_trust_and_distrust() -> None:
    # 0 (seed) trusts 1; 2 distrusts 3; the seed distrusts 4 (not credible, not counted)
    src = np.array(["0", "1", "2", "0", "2"])
    dst = np.array(["1", "2", "3", "4", "1"])
    w = np.array([5.0, 3.0, -8.0, -9.0, 2.0])
    scores = rank_risk(src, dst, ["0"], weights=w, config=RankConfig(negative_below=0.0))
    pos = {node: i for i, node in enumerate(scores.nodes)}
    assert scores.exposure[pos["3"]] == 0.0 and scores.exposure[pos["4"]] == 0.0
    assert scores.exposure[pos["1"]] > 0
    assert scores.distrust_in is not None and scores.distrust_score is not None
    assert scores.distrust_in[pos["3"]] == 1 and scores.distrust_in[pos["4"]] == 0
    assert scores.distrust_score[pos["3"]] > 0 and scores.distrust_score[pos["4"]] == 0
    assert scores.trust_edges == 2  # undirected: 1->2 and 2->1 are one tie
    assert scores.distrust_edges == 2
    assert scores.degree[pos["4"]] == 1  # distrust ties still count as neighbourhood


def test_signed_rank_adds_goodness_and_fairness_after_the_existing_columns(
    tmp_path: Path,
) -> None:
    # 1..4 vouch for each other; all of them rate 5 at -10; 5 rates them all -10 back;
    # seed 0 rates 1 down (a known-bad rater's ratings do not count as fair)
    rows = [(u, (u % 4) + 1, 8) for u in range(1, 5)]
    rows += [(u, 5, -10) for u in range(1, 5)] + [(5, u, -10) for u in range(1, 5)]
    rows += [(0, 1, -10), (2, 0, -9)]
    edges = write(
        tmp_path / "e.csv", "src,dst,rating\n" + "".join(f"{u},{v},{w}\n" for u, v, w in rows)
    )
    seeds = write(tmp_path / "s.txt", "0\n")
    out = tmp_path / "o.csv"
    code, stdout, stderr = invoke(
        "graph", "rank", edges, "--seeds", seeds, "--out", out, "--directed",
        "--weight-column", "rating", "--negative-below", "0",
    )  # fmt: skip
    assert code == 0, stderr
    assert "goodness and fairness (REV2) in" in stdout
    table = read_scores(out)
    assert list(table[0]) == [
        "node", "exposure", "exposure_rank", "is_seed", "degree", "expected_exposure",
        "relative_exposure", "distrust_in", "distrust_score", "goodness", "fairness",
    ]  # fmt: skip
    by_node = {r["node"]: r for r in table}
    goodness = {node: float(r["goodness"]) for node, r in by_node.items()}
    fairness = {node: float(r["fairness"]) for node, r in by_node.items()}
    assert min(goodness, key=goodness.__getitem__) == "5"
    assert all(-1 <= g <= 1 for g in goodness.values())
    assert fairness["0"] == 0.0  # the seed is a known-bad rater
    assert fairness["5"] < min(fairness[u] for u in "1234")  # 5 contradicts everyone
    assert by_node["5"]["distrust_in"] == "4" and by_node["1"]["distrust_in"] == "1"


def test_star_ratings_map_onto_the_reputation_scale_with_rating_range(tmp_path: Path) -> None:
    # 1..5 stars: 3 is neutral; everyone gives 4 one star and the others five
    rows = [(u, v, 5) for u in range(4) for v in range(4) if u != v] + [(u, 4, 1) for u in range(4)]
    edges = write(
        tmp_path / "e.csv", "src,dst,stars\n" + "".join(f"{u},{v},{w}\n" for u, v, w in rows)
    )
    out = tmp_path / "o.csv"
    code, stdout, stderr = invoke(
        "graph", "rank", edges, "--seeds", write(tmp_path / "s.txt", "0\n"), "--out", out,
        "--weight-column", "stars", "--negative-below", "3", "--rating-range", "1", "5",
    )  # fmt: skip
    assert code == 0, stderr
    assert "goodness and fairness (REV2) in" in stdout.replace("\n", " ")
    goodness = {r["node"]: float(r["goodness"]) for r in read_scores(out)}
    assert goodness["4"] < 0 < 0.5 < min(goodness[u] for u in "123")
    # without the range, 1..5 reads as 0.2..1 of [-5, 5]: one star is still a positive rating
    code, _, stderr = invoke(
        "graph", "rank", edges, "--seeds", tmp_path / "s.txt", "--out", out,
        "--weight-column", "stars", "--negative-below", "3",
    )  # fmt: skip
    assert code == 0, stderr
    assert {r["node"]: float(r["goodness"]) for r in read_scores(out)}["4"] > 0


@pytest.mark.shared
def test_rank_on_bitcoin_alpha(tmp_path: Path) -> None:
    path = shared_file("bitcoin_alpha", "soc-sign-bitcoinalpha.csv")
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    target = np.array([r["target"] for r in rows])
    rating = np.array([float(r["weight"]) for r in rows])
    bad = sorted({t for t in set(target) if rating[target == t].mean() <= -5}, key=int)
    assert len(bad) == 108  # SOURCE.md: 108 nodes with mean incoming rating <= -5
    seeds = write(tmp_path / "seeds.txt", "\n".join(bad[::2]) + "\n")
    out = tmp_path / "scores.csv"
    code, stdout, stderr = invoke(
        "graph", "rank", path, "--seeds", seeds, "--out", out,
        "--weight-column", "weight", "--negative-below", "0",
    )  # fmt: skip
    assert code == 0, stderr
    assert "3,783 nodes" in stdout and "distrust edges" in stdout
    scores = read_scores(out)
    assert len(scores) == 3783
    assert list(scores[0])[-4:] == ["distrust_in", "distrust_score", "goodness", "fairness"]
    assert sum(float(r["exposure"]) for r in scores) == pytest.approx(1.0)
    held_out = set(bad[1::2])
    others = [r for r in scores if r["is_seed"] == "false"]
    # distrust from non-seed raters ranks held-out weakly-labelled users high (measured AUC 0.93)
    pos = [float(r["distrust_score"]) for r in others if r["node"] in held_out]
    neg = [float(r["distrust_score"]) for r in others if r["node"] not in held_out]
    auc = np.mean([p > q for p in pos for q in neg]) + 0.5 * np.mean(
        [p == q for p in pos for q in neg]
    )
    assert auc > 0.85
