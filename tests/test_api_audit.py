"""The audit log over HTTP: the tlog-tiles read paths byte for byte against tiles computed here
from the entries, a partner that verifies inclusion from the checkpoint and tiles alone over real
HTTP, and a real decision's receipt checked offline, with its failures (404, 409, 503, 401, 403)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from creditgraph.api.app import create_app
from creditgraph.api.keys import Role, create_key
from creditgraph.audit import keyfile, merkle, note, proofs, sequencer, tile_store
from creditgraph.audit.checkpoint import open_checkpoint
from creditgraph.audit.cosignature import format_verifier, generate_cosigner
from creditgraph.audit.receipt import (
    CheckpointSignatureError,
    InclusionProofError,
    ReceiptError,
    verify_receipt,
)
from creditgraph.audit.tiles import (
    TILE_WIDTH,
    TileHashes,
    bundle_path,
    split_hashes,
    tile_for_subtree,
    tile_path,
)
from creditgraph.canonical import canonical_json
from creditgraph.privacy.erasure import erase
from creditgraph.servicing.loans import LoanService
from creditgraph.settings import Settings
from creditgraph.store.models import OnlineFeatures
from tests.loan_world import insert_decision
from tests.real_server import free_port, running_server
from tests.scored_world import scored_world

OCTETS = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"


def entries_for(size: int) -> list[bytes]:
    """Entries of varied lengths (an empty one too): a bundle's length prefixes must be exact."""
    return [b"entry-%d-" % i + b"x" * (i % 37) if i % 1000 else b"" for i in range(size)]


def build_tree(engine: Engine, entries: list[bytes], batch: int = 7_000) -> None:
    """The tree grown as the sequencer grows it: a transaction per batch, widening tiles."""
    for start in range(0, len(entries), batch):
        with engine.begin() as conn:
            tile_store.append(conn, entries[start : start + batch])


def expected_tiles(entries: list[bytes]) -> dict[str, bytes]:
    """Every tile of the tree, computed from the entries with RFC 9162 roots, not the store's
    code: level L's hash i is the root over leaves [i * 256**L, (i + 1) * 256**L)."""
    leaves = [merkle.leaf_hash(e) for e in entries]
    out: dict[str, bytes] = {}
    level = 0
    while len(leaves) >> (8 * level):
        span = 1 << (8 * level)
        row = [
            merkle.root_of_hashes(leaves[i * span : (i + 1) * span])
            for i in range(len(leaves) >> (8 * level))
        ]
        for first in range(0, len(row), TILE_WIDTH):
            chunk = row[first : first + TILE_WIDTH]
            out[tile_path(level, first // TILE_WIDTH, len(chunk))] = b"".join(chunk)
        level += 1
    return out


def expected_bundles(entries: list[bytes]) -> dict[str, bytes]:
    out = {}
    for first in range(0, len(entries), TILE_WIDTH):
        chunk = entries[first : first + TILE_WIDTH]
        data = b"".join(len(e).to_bytes(2, "big") + e for e in chunk)
        out[bundle_path(first // TILE_WIDTH, len(chunk))] = data
    return out


@pytest.fixture
def log_app(tmp_path: Path) -> Iterator[tuple[TestClient, Engine]]:
    app = create_app(Settings(home=tmp_path / "home"))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app.state.ctx.engine


def _check_every_tile(client: TestClient, entries: list[bytes]) -> None:
    wanted = expected_tiles(entries) | expected_bundles(entries)
    for path, data in wanted.items():
        got = client.get(f"/v1/audit/{path}")  # no API key: the log is public
        assert got.status_code == 200, (path, got.text)
        assert got.content == data, path
        assert got.headers["content-type"] == OCTETS
        full = ".p/" not in path
        assert (got.headers["cache-control"] == IMMUTABLE) is full, path


@pytest.mark.parametrize("size", [1, 255, 256, 257, 70_000])
def test_tiles_and_bundles_are_byte_exact(log_app: tuple[TestClient, Engine], size: int) -> None:
    client, engine = log_app
    entries = entries_for(size)
    build_tree(engine, entries)
    _check_every_tile(client, entries)
    # A partial tile narrower than the stored one is its prefix; a wider one is not there yet.
    first = min(size, TILE_WIDTH)
    if first > 1:
        narrow = client.get(f"/v1/audit/{tile_path(0, 0, first - 1)}")
        assert narrow.content == b"".join(merkle.leaf_hash(e) for e in entries[: first - 1])
        assert narrow.headers["cache-control"] == "public, max-age=60"
        bundle = client.get(f"/v1/audit/{bundle_path(0, first - 1)}")
        assert bundle.content == expected_bundles(entries[: first - 1])[bundle_path(0, first - 1)]
    beyond = size // TILE_WIDTH
    for path in (tile_path(0, beyond + 1), bundle_path(beyond + 1), tile_path(3, 0)):
        missing = client.get(f"/v1/audit/{path}")
        assert missing.status_code == 404, path
        assert missing.json()["error"]["code"] == "not_found"
    if size % TILE_WIDTH:
        wider = client.get(f"/v1/audit/{tile_path(0, beyond)}")  # full, while it is partial
        assert wider.status_code == 404


def test_tiles_are_byte_exact_on_both_databases(settings: Settings) -> None:
    app = create_app(settings)
    entries = entries_for(600)
    with TestClient(app) as client:
        build_tree(app.state.ctx.engine, entries, batch=250)
        _check_every_tile(client, entries)


@pytest.mark.parametrize(
    "path",
    [
        "0/0000",  # four digits
        "0/x000/005",  # a spelling the spec's writer never uses
        "0/005.p/0",
        "0/005.p/256",
        "0/005.p/07",
        "64/000",
        "entries",
        "entries/abc",
        "../checkpoint",
        "",
    ],
)
def test_paths_outside_the_spec_are_refused_in_the_error_shape(
    log_app: tuple[TestClient, Engine], path: str
) -> None:
    client, engine = log_app
    build_tree(engine, entries_for(300))
    got = client.get(f"/v1/audit/tile/{path}")
    assert got.status_code in (400, 404), path
    body = got.json()
    assert set(body["error"]) == {"code", "message", "field"}
    assert body["error"]["code"] in ("invalid_tile_path", "not_found")
    assert " / " in body["error"]["message"]  # English, then Chinese


def test_no_checkpoint_yet_is_404_then_the_published_one_is_served(
    log_app: tuple[TestClient, Engine], tmp_path: Path
) -> None:
    client, engine = log_app
    none = client.get("/v1/audit/checkpoint")
    assert none.status_code == 404 and none.json()["error"]["code"] == "not_found"
    build_tree(engine, entries_for(3))
    keys = keyfile.load_or_create(tmp_path / "home" / "keys")
    published = sequencer.publish(engine, keys)
    assert published is not None and published.published
    got = client.get("/v1/audit/checkpoint")
    assert got.status_code == 200
    assert got.content == published.note
    assert got.headers["content-type"] == "text/plain; charset=utf-8"
    assert got.headers["cache-control"] == "no-store"


# ---- a partner verifies over real HTTP, reading only the checkpoint and tiles ---------------


class HttpTiles:
    """``merkle.SubtreeHashes`` of the tree a checkpoint names, from tiles fetched over HTTP."""

    def __init__(self, client: httpx.Client, size: int) -> None:
        self.client = client
        self.size = size
        self.fetched: dict[str, TileHashes] = {}

    def hash(self, start: int, end: int) -> bytes:
        tile, height, offset = tile_for_subtree(start, end, self.size)
        if tile.path not in self.fetched:
            got = self.client.get(f"/v1/audit/{tile.path}")
            assert got.status_code == 200, (tile.path, got.text)
            self.fetched[tile.path] = TileHashes(split_hashes(got.content))
        return self.fetched[tile.path].node(height, offset)


def partner_verifies(client: httpx.Client, log_key: str, index: int) -> bytes:
    """What a partner runs: open the checkpoint with the log's key, read the entry from its
    bundle, build the inclusion proof from tiles and check it against the signed root."""
    verifier = note.parse_verifier(log_key)
    signed = client.get("/v1/audit/checkpoint")
    assert signed.status_code == 200
    checkpoint = open_checkpoint(signed.content, origin=verifier.name, verifier=verifier).checkpoint
    size = checkpoint.size
    first = index // TILE_WIDTH * TILE_WIDTH
    bundle = client.get(
        f"/v1/audit/{bundle_path(index // TILE_WIDTH, min(TILE_WIDTH, size - first))}"
    )
    assert bundle.status_code == 200
    data, at = bundle.content, 0
    for _ in range(index - first):
        at += 2 + int.from_bytes(data[at : at + 2], "big")
    entry = data[at + 2 : at + 2 + int.from_bytes(data[at : at + 2], "big")]
    source = HttpTiles(client, size)
    proof = merkle.inclusion_proof_from(source, index, size)
    merkle.verify_inclusion(merkle.leaf_hash(entry), index, size, proof, checkpoint.root_hash)
    # A few tiles: one per level on the leaf's path, and the right edge's partial ones.
    assert len(source.fetched) <= 6
    return entry


def test_a_partner_verifies_inclusion_from_tiles_over_http(
    sqlite_settings: Settings, tmp_path: Path
) -> None:
    engine = create_app(sqlite_settings).state.ctx.engine
    entries = entries_for(70_000)
    build_tree(engine, entries[:66_000])
    keys = keyfile.load_or_create(sqlite_settings.keys_dir)
    assert sequencer.publish(engine, keys) is not None
    build_tree(engine, entries[66_000:])  # the store now holds more than the checkpoint covers
    log_key = note.format_verifier(keys.signers[0].verifier())
    with (
        running_server(sqlite_settings, tmp_path / "server.log") as port,
        httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client,
    ):
        for index in (0, 255, 256, 65_535, 65_536, 65_999):
            assert partner_verifies(client, log_key, index) == entries[index]
        # The tiles' proof holds for its own leaf only.
        source = HttpTiles(client, 66_000)
        proof = merkle.inclusion_proof_from(source, 7, 66_000)
        wrong_leaf = merkle.leaf_hash(entries[8])
        with engine.connect() as conn:
            root = tile_store.root(conn, 66_000)
        merkle.verify_inclusion(merkle.leaf_hash(entries[7]), 7, 66_000, proof, root)
        with pytest.raises(merkle.ProofError):
            merkle.verify_inclusion(wrong_leaf, 7, 66_000, proof, root)


# ---- a real decision's receipt -----------------------------------------------------------------


@dataclass
class World:
    settings: Settings
    client: TestClient
    engine: Engine
    tokens: dict[str, str]
    people: list[str]
    used: list[str] = field(default_factory=list)

    def as_(self, who: str, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}", **extra}

    def decide(self, client: TestClient | None = None) -> dict[str, Any]:
        """A real decision through the API, for a person not used before."""
        person = self.people[len(self.used)]
        self.used.append(person)
        made = (client or self.client).post(
            "/v1/applications",
            json={
                "person_id": person,
                "product_code": "XFD-MED",
                "amount": "8000.00",
                "term": 12,
                "purpose": "medical",
            },
            headers=self.as_("applicant-app"),
        )
        assert made.status_code == 201, made.text
        return dict(made.json())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    settings = scored_world(tmp_path_factory.mktemp("audit-api"), people=600, seed=5)
    keyfile.load_or_create(settings.keys_dir)  # the operator makes the log's key (audit key)
    app = create_app(settings)
    engine = app.state.ctx.engine
    tokens = {role.value: create_key(engine, role.value, role.value, "t").token for role in Role}
    tokens["other-app"] = create_key(engine, "other-app", "applicant-app", "t").token
    with engine.connect() as conn:
        people = list(
            conn.execute(
                select(OnlineFeatures.person_id).order_by(OnlineFeatures.person_id).limit(50)
            ).scalars()
        )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(settings, client, engine, tokens, people)


def test_a_decisions_receipt_verifies_offline_and_opens_its_entry(
    world: World, tmp_path: Path
) -> None:
    decision = world.decide()
    got = world.client.get(
        f"/v1/decisions/{decision['id']}/proof", headers=world.as_("applicant-app")
    )
    assert got.status_code == 200, got.text
    assert got.headers["cache-control"] == "no-store"
    body = got.json()
    assert set(body) == {"decision_id", "leaf_index", "tree_size", "receipt", "opening", "log_key"}
    assert body["decision_id"] == decision["id"]
    assert body["log_key"] == (world.settings.keys_dir / "audit.pub").read_text().strip()

    receipt_file = tmp_path / "decision.tlog-proof"
    receipt_file.write_text(body["receipt"], encoding="utf-8")
    log_verifier = note.parse_verifier(body["log_key"])
    verified = verify_receipt(receipt_file.read_bytes(), log_verifier)
    assert verified.index == body["leaf_index"]
    assert verified.checkpoint.size == body["tree_size"] > body["leaf_index"]
    assert proofs.check_opening(verified.entry, body["opening"]) is None
    assert decision["id"] in body["opening"]["message"]

    # What a partner runs with no database: the command, the key it was given, the opening.
    opening_file = tmp_path / "opening.json"
    opening_file.write_text(json.dumps(body["opening"]), encoding="utf-8")
    command = [str(Path(sys.executable).parent / "creditgraph"), "audit", "verify-receipt"]
    key_file = str(world.settings.keys_dir / "audit.pub")
    environment = os.environ | {"CREDITGRAPH_HOME": str(tmp_path / "partner")}
    checked = subprocess.run(
        [*command, str(receipt_file), "--key", key_file, "--opening", str(opening_file)],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert checked.returncode == 0, checked.stderr
    assert f"index {body['leaf_index']} in tree of size {body['tree_size']}" in checked.stdout

    # The published checkpoint the receipt carries is the one the log serves.
    served = world.client.get("/v1/audit/checkpoint")
    assert served.status_code == 200 and body["receipt"].endswith(served.text)
    # The receipt's text alone, for a client that asks for it.
    text = world.client.get(
        f"/v1/decisions/{decision['id']}/proof",
        headers=world.as_("officer", Accept="text/plain"),
    )
    assert text.status_code == 200 and text.text == body["receipt"]
    assert text.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_tampered_receipt_or_opening_fails(world: World) -> None:
    decision = world.decide()
    body = world.client.get(
        f"/v1/decisions/{decision['id']}/proof", headers=world.as_("analyst")
    ).json()
    receipt = body["receipt"].encode()
    log_verifier = note.parse_verifier(body["log_key"])
    verify_receipt(receipt, log_verifier)

    head, _, checkpoint = receipt.partition(b"\n\n")
    lines = head.split(b"\n")
    other_index = [*lines[:2], b"index %d" % (body["leaf_index"] + 1), *lines[3:]]
    with pytest.raises(ReceiptError):
        verify_receipt(b"\n".join(other_index) + b"\n\n" + checkpoint, log_verifier)
    origin, size, *rest = checkpoint.split(b"\n")
    grown = b"\n".join([origin, str(int(size) + 1).encode(), *rest])
    with pytest.raises(CheckpointSignatureError):
        verify_receipt(head + b"\n\n" + grown, log_verifier)
    if len(lines) > 3:  # a proof hash changed: another root
        flipped = bytearray(lines[3])
        flipped[0] = ord("A") if flipped[0] != ord("A") else ord("B")
        changed = [*lines[:3], bytes(flipped), *lines[4:]]
        with pytest.raises(ReceiptError):
            verify_receipt(b"\n".join(changed) + b"\n\n" + checkpoint, log_verifier)

    verified = verify_receipt(receipt, log_verifier)
    opening = dict(body["opening"])
    message = json.loads(opening["message"])
    message["fields"]["outcome"] = "approve" if decision["outcome"] != "approve" else "decline"
    other = canonical_json(message)
    assert proofs.check_opening(verified.entry, opening | {"message": other}) is not None
    assert proofs.check_opening(verified.entry, opening | {"salt": "00" * 32}) is not None
    other_entry = verified.entry[:-1] + (b"0" if verified.entry[-1:] != b"0" else b"1")
    changed_extra = receipt.replace(lines[1], b"extra " + base64.b64encode(other_entry))
    with pytest.raises(InclusionProofError):
        verify_receipt(changed_extra, log_verifier)


def test_who_may_ask_for_a_proof(world: World) -> None:
    decision = world.decide()
    path = f"/v1/decisions/{decision['id']}/proof"
    for who in ("applicant-app", "officer", "analyst", "admin"):
        assert world.client.get(path, headers=world.as_(who)).status_code == 200, who
    hidden = world.client.get(path, headers=world.as_("other-app"))
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    for who in ("partner", "ingest", "payment-channel"):
        refused = world.client.get(path, headers=world.as_(who))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    missing_key = world.client.get(path)
    assert missing_key.status_code == 401
    assert missing_key.json()["error"]["code"] == "missing_api_key"
    unknown = world.client.get("/v1/decisions/DC-nothing/proof", headers=world.as_("officer"))
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_a_decision_the_log_never_had_is_404(world: World) -> None:
    decision_id = insert_decision(world.engine)  # written past the audit hook
    got = world.client.get(f"/v1/decisions/{decision_id}/proof", headers=world.as_("officer"))
    assert got.status_code == 404
    assert got.json()["error"]["code"] == "not_in_audit_log"
    assert "审计日志" in got.json()["error"]["message"]


def test_an_erased_borrowers_decision_is_409_and_an_applicants_is_gone(world: World) -> None:
    """A borrower's decision is kept with the loan under the legal hold, its entry unlinked:
    409. An applicant without a loan has no decision left to prove: 404."""
    borrower = _approved(world)
    LoanService(world.engine).accept(borrower["id"], 0)
    applicant = world.decide()
    paths = [f"/v1/decisions/{d['id']}/proof" for d in (borrower, applicant)]
    for path in paths:
        assert world.client.get(path, headers=world.as_("officer")).status_code == 200
    for decision in (borrower, applicant):
        erase(world.engine, decision["person_id"])
    held, gone = (world.client.get(p, headers=world.as_("officer")) for p in paths)
    assert held.status_code == 409, held.text
    error = held.json()["error"]
    assert error["code"] == "erased" and "erased" in error["message"]
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def _approved(world: World) -> dict[str, Any]:
    for _ in range(20):
        decision = world.decide()
        if decision["outcome"] == "approve":
            return decision
    raise AssertionError("no approved decision in 20 applications")


def test_no_witness_quorum_is_503_with_the_reason(world: World, tmp_path: Path) -> None:
    witness = generate_cosigner("witness.example/w1")
    policy = tmp_path / "witnesses.toml"
    policy.write_text(
        'quorum = "w1"\n\n[[witnesses]]\nname = "w1"\n'
        f'key = "{format_verifier(witness.verifier())}"\n'
        f'url = "http://127.0.0.1:{free_port()}/w1"\n'  # nobody listens there
    )
    witnessed = create_app(world.settings.model_copy(update={"audit_witness_policy": policy}))
    decision = world.decide()
    with TestClient(witnessed, raise_server_exceptions=False) as client:
        got = client.get(f"/v1/decisions/{decision['id']}/proof", headers=world.as_("officer"))
    assert got.status_code == 503, got.text
    error = got.json()["error"]
    assert error["code"] == "no_checkpoint"
    assert "not met" in error["message"] and "unreachable" in error["message"]
    assert got.headers["retry-after"] == "5"

    broken = create_app(
        world.settings.model_copy(update={"audit_witness_policy": tmp_path / "missing.toml"})
    )
    with TestClient(broken, raise_server_exceptions=False) as client:
        got = client.get(f"/v1/decisions/{decision['id']}/proof", headers=world.as_("officer"))
    assert got.status_code == 503 and got.json()["error"]["code"] == "audit_unavailable"
    assert "missing.toml" not in got.text  # the server's paths stay in the server's log

    # Without the witnesses, the next checkpoint (the log has grown) covers the decision.
    world.decide()
    again = world.client.get(f"/v1/decisions/{decision['id']}/proof", headers=world.as_("admin"))
    assert again.status_code == 200, again.text
