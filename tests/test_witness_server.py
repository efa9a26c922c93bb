"""The witness server (C2SP tlog-witness add-checkpoint) over real HTTP, its store and its CLI."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text, update
from typer.testing import CliRunner

from creditgraph.audit import checkpoint as cp
from creditgraph.audit import cosignature as cs
from creditgraph.audit import merkle, note
from creditgraph.audit import witness as wt
from creditgraph.audit.witness_app import (
    MAX_BODY_BYTES,
    Witness,
    create_witness_app,
    serving_in_thread,
)
from creditgraph.audit.witness_config import load_cosigner, load_witness_config
from creditgraph.audit.witness_key import format_cosigner, parse_cosigner
from creditgraph.audit.witness_store import CHECKPOINTS, WitnessStore, open_store, sqlite_engine
from creditgraph.cli.main import app as cli_app
from creditgraph.store.db import make_engine
from tests.conftest import REPO_ROOT
from tests.real_server import free_port

ORIGIN = "creditgraph.local/log-00112233aabbccdd"
NOW = 1_796_000_000
EM = "—".encode()


def seed(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


LOG = note.Signer(ORIGIN, seed("log"))
STRANGER = note.Signer(ORIGIN, seed("not the log"))
W1 = cs.CosignatureSigner("witness.bank-a.example", seed("w1"))
LOG_KEYS = {ORIGIN: (LOG.verifier(),)}


def entries(count: int, tag: str = "a") -> list[bytes]:
    return [merkle.leaf_hash(f"{tag}{i}".encode()) for i in range(count)]


def signed(hashes: list[bytes], signer: note.Signer = LOG, origin: str = ORIGIN) -> bytes:
    return cp.sign_checkpoint(
        cp.Checkpoint(origin, len(hashes), merkle.root_of_hashes(hashes)), [signer]
    )


def body(old: int, proof: list[bytes], log_note: bytes) -> bytes:
    return wt.format_request(old, proof, log_note)


def grow(tree: list[bytes], old: int) -> bytes:
    """The request that grows a witness holding ``tree[:old]`` to ``tree``."""
    proof = merkle.consistency_proof(tree, old, len(tree)) if 0 < old < len(tree) else []
    return body(old, proof, signed(tree))


def state(hashes: list[bytes]) -> wt.WitnessState:
    return wt.WitnessState(len(hashes), merkle.root_of_hashes(hashes))


def witness_on(store: WitnessStore) -> Witness:
    return Witness(store, LOG_KEYS, [W1], clock=lambda: NOW)


def serving(witness: Witness) -> AbstractContextManager[str]:
    """A real uvicorn server for ``witness`` in a thread on a free loopback port."""
    return serving_in_thread(create_witness_app(witness))


def post(base: str, payload: bytes) -> httpx.Response:
    return httpx.post(f"{base}/add-checkpoint", content=payload, timeout=30)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WitnessStore]:
    opened = open_store(tmp_path / "witness.db")
    yield opened
    opened.engine.dispose()


@pytest.fixture
def server(store: WitnessStore) -> Iterator[str]:
    with serving(witness_on(store)) as base:
        yield base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The witness's database on SQLite (its production home) and on PostgreSQL."""
    if request.param == "sqlite":
        engine = sqlite_engine(tmp_path / "witness.db")
    else:
        engine = make_engine(str(request.getfixturevalue("postgres_url")))
    WitnessStore(engine).create()
    yield engine
    engine.dispose()


# --- status codes over HTTP ------------------------------------------------------------------


def test_a_growing_log_is_cosigned_and_the_cosignature_verifies(
    server: str, store: WitnessStore
) -> None:
    tree = entries(12)
    first = signed(tree[:5])
    response = post(server, body(0, [], first))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.content.startswith(EM) and response.content.count(b"\n") == 1
    assert cs.verify_cosignatures(first + response.content, [W1.verifier()]) == {W1.name: NOW}
    assert store.load(ORIGIN) == state(tree[:5])

    response = post(server, grow(tree, 5))
    assert response.status_code == 200
    assert cs.verify_cosignatures(signed(tree) + response.content, [W1.verifier()]) == {
        W1.name: NOW
    }
    assert store.load(ORIGIN) == state(tree)
    assert store.evidence() == []


@pytest.mark.parametrize(
    "payload",
    [b"", b"old 01\n\n" + signed(entries(3)), b"old 0\n\nnot a checkpoint\n", b"\xff\xfe"],
    ids=["empty", "leading-zero", "not-a-note", "binary"],
)
def test_a_malformed_body_is_400(server: str, store: WitnessStore, payload: bytes) -> None:
    response = post(server, payload)
    assert response.status_code == 400
    assert EM not in response.content
    assert store.load(ORIGIN) is None


def test_an_old_size_beyond_the_checkpoint_is_400(server: str, store: WitnessStore) -> None:
    response = post(server, body(9, [], signed(entries(5))))
    assert response.status_code == 400 and b"beyond" in response.content


def test_a_body_over_the_limit_is_413(server: str) -> None:
    response = post(server, b"old 0\n" + b"A" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


def test_only_post_is_served(server: str) -> None:
    assert httpx.get(f"{server}/add-checkpoint").status_code == 405
    assert httpx.get(f"{server}/health").text == "ok\n"


def test_a_checkpoint_signed_by_another_key_is_403(server: str, store: WitnessStore) -> None:
    response = post(server, body(0, [], signed(entries(3), signer=STRANGER)))
    assert response.status_code == 403
    assert EM not in response.content
    assert store.load(ORIGIN) is None and store.evidence() == []


def test_an_unknown_origin_is_404(server: str, store: WitnessStore) -> None:
    other = note.Signer("elsewhere.example/log", seed("elsewhere"))
    response = post(server, body(0, [], signed(entries(3), other, "elsewhere.example/log")))
    assert response.status_code == 404
    assert store.load("elsewhere.example/log") is None


def test_a_stale_old_size_is_409_with_the_stored_size(server: str, store: WitnessStore) -> None:
    tree = entries(9)
    assert post(server, body(0, [], signed(tree[:5]))).status_code == 200
    response = post(server, body(0, [], signed(tree)))
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.content == b"5\n"
    assert store.load(ORIGIN) == state(tree[:5])
    assert store.evidence() == []  # a stale size is ordinary protocol, not misbehaviour

    retry = post(server, grow(tree, 5))  # what a log does with the 409: prove from there
    assert retry.status_code == 200 and store.load(ORIGIN) == state(tree)


def test_a_bad_proof_is_422_and_kept_as_evidence(server: str, store: WitnessStore) -> None:
    tree = entries(20)
    assert post(server, body(0, [], signed(tree[:13]))).status_code == 200
    proof = merkle.consistency_proof(tree, 13, 20)
    proof[0] = bytes(32)
    bad = signed(tree)
    response = post(server, body(13, proof, bad))
    assert response.status_code == 422
    assert EM not in response.content
    assert store.load(ORIGIN) == state(tree[:13])
    [kept] = store.evidence(ORIGIN)
    assert (kept.status, kept.checkpoint) == (422, bad)


def test_a_split_view_is_refused_and_kept_as_evidence(server: str, store: WitnessStore) -> None:
    common = entries(4)
    view_a = [*common, merkle.leaf_hash(b"a4")]
    view_b = [*common, merkle.leaf_hash(b"forged")]
    assert post(server, body(0, [], signed(view_a))).status_code == 200

    shown_b = signed(view_b)
    response = post(server, body(5, [], shown_b))
    assert response.status_code == 409
    assert response.headers["content-type"] == "text/x.tlog.size"
    assert response.content == b"5\n"
    assert store.load(ORIGIN) == state(view_a)
    [kept] = store.evidence(ORIGIN)
    assert kept.status == 409 and "two views" in kept.reason
    assert kept.checkpoint == shown_b  # the log's own signature on the other view
    assert note.open(kept.checkpoint, [LOG.verifier()]).text != signed(view_a).split(b"\n\n")[0]

    # The log grows view B and tries again: the proof cannot lead from A's root.
    grown = [*view_b, *entries(3, tag="c")]
    again = post(server, grow(grown, 5))
    assert again.status_code == 422
    assert store.load(ORIGIN) == state(view_a)
    assert [e.status for e in store.evidence(ORIGIN)] == [409, 422]


def test_the_state_survives_a_restart(tmp_path: Path) -> None:
    tree = entries(11)
    path = tmp_path / "witness.db"
    first = open_store(path)
    with serving(witness_on(first)) as base:
        assert post(base, body(0, [], signed(tree[:6]))).status_code == 200
    first.engine.dispose()

    second = open_store(path)
    with serving(witness_on(second)) as base:
        rollback = post(base, body(0, [], signed(tree[:3])))
        assert rollback.status_code == 409 and rollback.content == b"6\n"
        assert post(base, grow(tree, 6)).status_code == 200
    assert second.load(ORIGIN) == state(tree)
    second.engine.dispose()


# --- fails closed ----------------------------------------------------------------------------


def test_a_locked_database_is_500_without_a_cosignature(tmp_path: Path) -> None:
    path = tmp_path / "witness.db"
    store = open_store(path, busy_timeout=0.2)
    tree = entries(8)
    assert witness_on(store).add_checkpoint(body(0, [], signed(tree[:4]))).status == 200
    holder = sqlite_engine(path)
    with holder.connect() as conn, serving(witness_on(store)) as base:
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # another process holds the write lock
        response = post(base, grow(tree, 4))
        conn.exec_driver_sql("ROLLBACK")
    assert response.status_code == 500
    assert EM not in response.content and b"nothing was cosigned" in response.content
    assert store.load(ORIGIN) == state(tree[:4])
    holder.dispose()
    store.engine.dispose()


def test_a_database_that_refuses_writes_is_500_and_the_state_is_unchanged(
    server: str, store: WitnessStore
) -> None:
    tree = entries(8)
    assert post(server, body(0, [], signed(tree[:4]))).status_code == 200
    with store.engine.begin() as conn:  # the disk refuses every write from now on
        for action in ("UPDATE", "INSERT"):
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_{action.lower()} BEFORE {action} "
                    "ON witness_checkpoints BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                )
            )
    response = post(server, grow(tree, 4))
    assert response.status_code == 500 and EM not in response.content
    assert store.load(ORIGIN) == state(tree[:4])
    other = note.Signer("second.example/log", seed("second"))
    witness = Witness(store, {**LOG_KEYS, other.name: (other.verifier(),)}, [W1])
    with pytest.raises(Exception, match="disk I/O error"):
        witness.add_checkpoint(body(0, [], signed(entries(2), other, other.name)))
    assert store.load(other.name) is None


def test_a_read_only_database_file_is_500(tmp_path: Path) -> None:
    path = tmp_path / "witness.db"
    open_store(path).engine.dispose()
    read_only = WitnessStore(sqlite_engine_read_only(path))
    with serving(witness_on(read_only)) as base:
        response = post(base, body(0, [], signed(entries(3))))
    assert response.status_code == 500 and EM not in response.content
    assert open_store(path).load(ORIGIN) is None


def sqlite_engine_read_only(path: Path) -> Engine:
    """The file opened read-only by SQLite itself (a chmod does not stop a root test run)."""
    from sqlalchemy import create_engine

    return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")


# --- concurrency -----------------------------------------------------------------------------


def test_racing_requests_from_one_old_size_cosign_exactly_one(any_engine: Engine) -> None:
    store = WitnessStore(any_engine)
    tree = entries(40)
    assert witness_on(store).add_checkpoint(body(0, [], signed(tree[:10]))).status == 200
    racers = 16
    payloads = {10 + n: grow(tree[: 10 + n], 10) for n in range(1, racers + 1)}
    results: dict[int, httpx.Response] = {}
    gate = threading.Barrier(racers)

    with serving(witness_on(store)) as base:

        def race(size: int) -> None:
            with httpx.Client(timeout=60) as client:
                gate.wait()
                results[size] = client.post(f"{base}/add-checkpoint", content=payloads[size])

        threads = [threading.Thread(target=race, args=(size,)) for size in payloads]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)

    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200] + [409] * (racers - 1)
    [winner] = [size for size, r in results.items() if r.status_code == 200]
    assert store.load(ORIGIN) == state(tree[:winner])
    for size, response in results.items():
        if size != winner:
            assert response.content == f"{winner}\n".encode()
            assert EM not in response.content
    winning = results[winner].content
    assert cs.verify_cosignatures(signed(tree[:winner]) + winning, [W1.verifier()])


def test_compare_and_swap_lets_one_of_two_connections_win(any_engine: Engine) -> None:
    one, two = WitnessStore(any_engine), WitnessStore(any_engine)
    tree = entries(30)
    start, a, b = state(tree[:10]), state(tree[:20]), state(tree[:30])

    assert one.compare_and_swap(ORIGIN, None, start)
    assert not two.compare_and_swap(ORIGIN, None, a)  # a first state is inserted once
    assert one.load(ORIGIN) == start

    assert one.compare_and_swap(ORIGIN, start, a)
    assert not two.compare_and_swap(ORIGIN, start, b)  # decided on a state no longer stored
    assert not two.compare_and_swap(
        ORIGIN, wt.WitnessState(20, bytes(32)), b
    )  # same size, other root
    assert two.load(ORIGIN) == a

    # Interleaved: the first swap is written but not committed when the second one runs.
    with any_engine.connect() as conn:
        transaction = conn.begin()
        conn.execute(
            update(CHECKPOINTS)
            .where(CHECKPOINTS.c.origin == ORIGIN, CHECKPOINTS.c.size == a.size)
            .values(size=b.size, root_hash=b.root_hash)
        )
        outcome: list[bool] = []
        loser = threading.Thread(
            target=lambda: outcome.append(two.compare_and_swap(ORIGIN, a, state(tree[:25])))
        )
        loser.start()
        loser.join(timeout=0.5)
        assert loser.is_alive()  # waits for the first writer rather than reading around it
        transaction.commit()
    loser.join(timeout=30)
    assert outcome == [False]
    assert one.load(ORIGIN) == b


# --- the witness key string ------------------------------------------------------------------


def test_the_private_key_string_round_trips_and_refuses_a_log_key() -> None:
    text = format_cosigner(W1)
    assert text.startswith(f"PRIVATE+KEY+{W1.name}+{W1.key_id:08x}+")
    assert parse_cosigner(text) == W1
    with pytest.raises(note.KeyFormatError, match="0x01"):
        parse_cosigner(note.format_signer(LOG))
    _, _, name, _, key = text.split("+", 4)
    with pytest.raises(note.KeyIdMismatchError):
        parse_cosigner(f"PRIVATE+KEY+{name}+00000000+{key}")


# --- the command line ------------------------------------------------------------------------


def write_config(tmp_path: Path, body_text: str | None = None) -> Path:
    path = tmp_path / "witness.toml"
    path.write_text(
        body_text
        if body_text is not None
        else (
            'key_file = "witness.key"\ndatabase = "witness.db"\n\n'
            f'[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{note.format_verifier(LOG.verifier())}"]\n'
        )
    )
    return path


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CREDITGRAPH_HOME", str(tmp_path / "home"))
    return CliRunner()


def test_init_makes_a_private_key_and_prints_its_verifier(
    runner: CliRunner, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    made = runner.invoke(cli_app, ["witness", "init", "--config", str(config), "--name", W1.name])
    assert made.exit_code == 0, made.output
    printed = made.stdout.strip()
    verifier = cs.parse_verifier(printed)
    assert verifier.name == W1.name
    key_file = tmp_path / "witness.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert load_cosigner(load_witness_config(config)).verifier() == verifier

    again = runner.invoke(cli_app, ["witness", "init", "--config", str(config), "--name", "x"])
    assert again.exit_code == 1 and "already exists" in again.stderr
    assert "Traceback" not in again.output

    shown = runner.invoke(cli_app, ["witness", "key", "--config", str(config)])
    assert shown.exit_code == 0 and shown.stdout.strip() == printed


def test_key_refuses_a_key_file_open_to_others(runner: CliRunner, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert (
        runner.invoke(
            cli_app, ["witness", "init", "--config", str(config), "--name", "w"]
        ).exit_code
        == 0
    )
    (tmp_path / "witness.key").chmod(0o644)
    result = runner.invoke(cli_app, ["witness", "key", "--config", str(config)])
    assert result.exit_code == 1 and "readable by others" in result.stderr


def test_key_refuses_a_log_signing_key_in_the_key_file(runner: CliRunner, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    key_file = tmp_path / "witness.key"
    key_file.write_text(note.format_signer(LOG) + "\n")
    key_file.chmod(0o600)
    result = runner.invoke(cli_app, ["witness", "key", "--config", str(config)])
    assert result.exit_code == 1
    assert "not a witness key" in result.stderr and "0x04" in result.stderr


LOG_KEY = note.format_verifier(LOG.verifier())


@pytest.mark.parametrize(
    ("config_text", "fault"),
    [
        (None, "no such configuration file"),
        ("logs = [", "not valid TOML"),
        ('key_file = "k"\n', "logs"),
        (f'[[logs]]\norigin = "{ORIGIN}"\nkeys = ["nonsense"]\n', "logs.0.keys"),
        (
            f'[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{cs.format_verifier(W1.verifier())}"]\n',
            "0x04",
        ),
        (f'[[logs]]\norigin = "{ORIGIN}"\nkeys = []\n', "logs.0.keys"),
        (f'[[logs]]\norigin = "a log"\nkeys = ["{LOG_KEY}"]\n', "contains a space"),
        (f'[[logs]]\norigin = ""\nkeys = ["{LOG_KEY}"]\n', "origin is empty"),
        (
            f'[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{LOG_KEY}"]\n'
            f'[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{LOG_KEY}"]\n',
            "listed twice",
        ),
        (f'nmae = "w"\n[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{LOG_KEY}"]\n', "nmae"),
        (f'name = "a b"\n[[logs]]\norigin = "{ORIGIN}"\nkeys = ["{LOG_KEY}"]\n', "name"),
    ],
    ids=[
        "missing-file",
        "bad-toml",
        "no-logs",
        "bad-key",
        "cosigner-key-as-log-key",
        "no-keys",
        "origin-with-space",
        "empty-origin",
        "origin-twice",
        "misspelt-field",
        "bad-name",
    ],
)
def test_config_errors_exit_non_zero_naming_the_fault(
    runner: CliRunner, tmp_path: Path, config_text: str | None, fault: str
) -> None:
    config = tmp_path / "witness.toml"
    if config_text is not None:
        write_config(tmp_path, config_text)
    for command in (["init", "--name", "w"], ["key"], ["serve", "--port", "1"]):
        result = runner.invoke(
            cli_app, ["witness", command[0], "--config", str(config), *command[1:]]
        )
        assert result.exit_code == 1, result.output
        assert fault in result.stderr and str(config) in result.stderr
        assert "Traceback" not in result.output
    assert not (tmp_path / "witness.key").exists()


def test_init_needs_a_name_and_keeps_the_files(runner: CliRunner, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    unnamed = runner.invoke(cli_app, ["witness", "init", "--config", str(config)])
    assert unnamed.exit_code == 1 and "--name" in unnamed.stderr
    named = write_config(tmp_path, f'name = "w.example"\n{config.read_text()}')
    other = runner.invoke(cli_app, ["witness", "init", "--config", str(named), "--name", "x"])
    assert other.exit_code == 1 and "'w.example'" in other.stderr
    assert not (tmp_path / "witness.key").exists()
    made = runner.invoke(cli_app, ["witness", "init", "--config", str(named)])
    assert made.exit_code == 0 and made.stdout.startswith("w.example+")


def test_serve_answers_add_checkpoint_from_its_config(runner: CliRunner, tmp_path: Path) -> None:
    """`creditgraph witness serve` as an operator runs it: a process on the configured files."""
    config = write_config(tmp_path)
    made = runner.invoke(cli_app, ["witness", "init", "--config", str(config), "--name", W1.name])
    verifier = cs.parse_verifier(made.stdout.strip())
    port = free_port()
    log_path = tmp_path / "serve.log"
    command = [
        sys.executable, "-m", "creditgraph.cli.witness_cmd",
        "serve", "--config", str(config), "--port", str(port),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, cwd=REPO_ROOT, env=dict(os.environ), stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"witness did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        log_note = signed(entries(3))
        before = int(time.time())
        response = post(f"http://127.0.0.1:{port}", body(0, [], log_note))
        assert response.status_code == 200
        [(name, stamp)] = cs.verify_cosignatures(log_note + response.content, [verifier]).items()
        assert name == W1.name and before <= stamp <= int(time.time())
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert open_store(tmp_path / "witness.db").load(ORIGIN) == state(entries(3))
