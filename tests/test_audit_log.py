"""The audit log end to end on the database: commitments, the sequencer, receipts, verification.

Every kind of logged record is tampered with in turn and ``verify`` must name its leaf; erasure
must leave the tree verifiable; publication must wait for its witness quorum; a split view must
be refused by the witness that saw the other tree.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select, text, update
from typer.testing import CliRunner

from creditgraph.audit import (
    commitment,
    keyfile,
    merkle,
    note,
    outbox,
    proofs,
    sequencer,
    tile_store,
)
from creditgraph.audit.checkpoint import parse_checkpoint
from creditgraph.audit.cosignature import format_verifier, generate_cosigner
from creditgraph.audit.receipt import (
    InclusionProofError,
    WitnessPolicyNotMetError,
    verify_receipt,
)
from creditgraph.audit.tiles import Bundle, decode_bundle
from creditgraph.audit.verify import verify
from creditgraph.audit.witness_app import Witness, create_witness_app, serving_in_thread
from creditgraph.audit.witness_policy import parse_witness_policy
from creditgraph.audit.witness_store import open_store
from creditgraph.cli.main import app as cli_app
from creditgraph.privacy.erasure import erase
from creditgraph.store.models import (
    Alert,
    AlertAction,
    AuditEntryBundle,
    AuditRecord,
    AuditTile,
    Consent,
    DecisionRecord,
    EodRun,
    IngestBatch,
    JournalLine,
    ModelVersion,
    WorkspaceAction,
    table_of,
)
from tests.audit_records import AT, PERSON, write_all, write_all_in
from tests.real_server import free_port

RECORDS = table_of(AuditRecord)


@pytest.fixture
def keys(tmp_path: Path) -> sequencer.LogKeys:
    return keyfile.load_or_create(tmp_path / "keys")


def verifiers(keys: sequencer.LogKeys) -> list[note.Verifier]:
    return [signer.verifier() for signer in keys.signers]


def leaf_of(engine: Engine, kind: str, record_id: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(RECORDS.c.leaf_index)
                .where(RECORDS.c.kind == kind, RECORDS.c.record_id == record_id)
                .order_by(RECORDS.c.id.desc())
            ).scalars().first()
        )  # fmt: skip


# --- commitments (pure) ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    fields=st.dictionaries(st.text(min_size=1, max_size=8), st.integers() | st.text(max_size=8)),
    flip=st.integers(min_value=0),
)
def test_any_changed_byte_of_an_entry_or_opening_fails_to_open(
    fields: dict[str, Any], flip: int
) -> None:
    salt = commitment.new_salt()
    message = commitment.opening("decision", "D1", fields)
    entry = commitment.entry("decision", commitment.commit(salt, message))
    assert commitment.opens(entry, salt, message)
    for data, changed_salt, changed_message in (
        (_flip(entry, flip), salt, message),
        (entry, _flip(salt, flip), message),
        (entry, salt, _flip(message, flip)),
    ):
        assert not commitment.opens(data, changed_salt, changed_message)


def _flip(data: bytes, position: int) -> bytes:
    position %= len(data)
    return data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]


def test_an_entry_carries_the_kind_and_commitment_only() -> None:
    salt = bytes(32)
    message = commitment.opening("consent", "17", {"person_id": PERSON})
    entry = commitment.entry("consent", commitment.commit(salt, message))
    assert entry.startswith(b"creditgraph.audit/v1 consent ")
    assert PERSON.encode() not in entry and b"17" not in entry.split(b" ")[1]
    assert commitment.parse_entry(entry).kind == "consent"
    with pytest.raises(commitment.CommitmentError):
        commitment.parse_entry(entry + b"\n")


# --- every record kind, tampered --------------------------------------------------------


def _logged(engine: Engine, keys: sequencer.LogKeys) -> dict[str, str]:
    ids = write_all_in(engine)
    write_all_in(engine, person_id="P0000002", suffix="2")
    sequencer.integrate_all(engine)
    assert sequencer.publish(engine, keys) is not None
    return ids


TAMPERS: dict[str, tuple[Any, str, Any]] = {
    # kind: (table, column changed, new value)
    "ingest_batch": (IngestBatch, "content_sha256", "0" * 64),
    "consent": (Consent, "revoked_at", None),  # set below to a time
    "model_version": (ModelVersion, "artifact", {"bins": [1, 3]}),
    "decision": (DecisionRecord, "outcome", "decline"),
    "day_end": (EodRun, "loans_processed", 2),
    "alert": (Alert, "severity", "low"),
    "alert_action": (AlertAction, "outcome", "not frozen"),
    "workspace_action": (WorkspaceAction, "outcome", "refused"),
}


@pytest.mark.parametrize("kind", sorted(TAMPERS))
def test_a_changed_record_of_every_kind_is_named_by_verify(
    engine: Engine, keys: sequencer.LogKeys, kind: str
) -> None:
    ids = _logged(engine, keys)
    before = verify(engine, verifiers(keys))
    assert before.ok, [p.describe() for p in before.problems]
    assert before.records_checked == 15 and before.tree_size == 15
    model, column, value = TAMPERS[kind]
    table = table_of(model)
    if kind == "consent":
        value = table.c.granted_at  # a revocation nobody logged
    key = table.c.business_date if kind == "day_end" else table.c.id
    record_id: Any = ids[kind]
    if kind == "day_end":
        record_id = date.fromisoformat(record_id)
    elif kind in ("consent", "alert_action"):
        record_id = int(record_id)
    with engine.begin() as conn:
        if kind == "decision":  # decisions are immutable: the trigger must be got around
            _without_decision_trigger(conn, engine)
        assert conn.execute(update(table).where(key == record_id).values({column: value})).rowcount
    report = verify(engine, verifiers(keys))
    first = report.first
    assert not report.ok and first is not None
    assert (first.kind, first.record_id) == (kind, ids[kind])
    assert first.leaf_index == leaf_of(engine, kind, ids[kind])
    assert "changed since logged" in first.what


def _without_decision_trigger(conn: Any, engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        for name in conn.execute(
            text("SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='decisions'")
        ).scalars():
            conn.execute(text(f'DROP TRIGGER "{name}"'))
    else:
        conn.execute(text("ALTER TABLE decisions DISABLE TRIGGER USER"))


def test_books_changed_after_a_day_end_name_the_day(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = _logged(engine, keys)
    lines = table_of(JournalLine)
    with engine.begin() as conn:
        conn.execute(update(lines).where(lines.c.account == "cash").values(credit_fen=400_000))
    first = verify(engine, verifiers(keys)).first
    assert first is not None and (first.kind, first.record_id) == ("day_end", ids["day_end"])


def test_a_deleted_record_a_changed_entry_and_a_changed_tile_are_each_named(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = _logged(engine, keys)
    actions = table_of(AlertAction)
    with engine.begin() as conn:
        conn.execute(delete(actions).where(actions.c.id == int(ids["alert_action"])))
    first = verify(engine, verifiers(keys)).first
    assert first is not None and first.what == "the record is gone"
    assert first.record_id == ids["alert_action"]


def test_a_rewritten_entry_bundle_is_named_at_its_leaf(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    _logged(engine, keys)
    bundles = table_of(AuditEntryBundle)
    with engine.begin() as conn:
        data = bytes(conn.execute(select(bundles.c.data)).scalar_one())
        position = data.index(b"creditgraph.audit/v1 decision ") + 40
        conn.execute(update(bundles).values(data=_flip(data, position)))
    report = verify(engine, verifiers(keys))
    first = report.first
    assert first is not None and first.kind == "decision"
    assert first.what == "the stored entry differs from its commitment"
    assert any("root" in p.what for p in report.problems)  # and the signed root no longer holds


def test_a_rewritten_tile_hash_is_named(engine: Engine, keys: sequencer.LogKeys) -> None:
    _logged(engine, keys)
    tiles = table_of(AuditTile)
    with engine.begin() as conn:
        hashes = bytes(conn.execute(select(tiles.c.hashes).where(tiles.c.level == 0)).scalar_one())
        conn.execute(update(tiles).where(tiles.c.level == 0).values(hashes=_flip(hashes, 5 * 32)))
    first = verify(engine, verifiers(keys)).first
    assert first is not None and first.leaf_index == 5 and "tile" in first.what


def test_a_changed_commitment_row_is_named(engine: Engine, keys: sequencer.LogKeys) -> None:
    ids = _logged(engine, keys)
    with engine.begin() as conn:
        conn.execute(
            update(RECORDS)
            .where(RECORDS.c.kind == "model_version", RECORDS.c.record_id == ids["model_version"])
            .values(commitment=bytes(32))
        )
    first = verify(engine, verifiers(keys)).first
    assert first is not None and (first.kind, first.record_id) == ("model_version", "scorecard-1")


def test_a_legitimate_change_committed_again_verifies(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = _logged(engine, keys)
    consents = table_of(Consent)
    with engine.begin() as conn:
        conn.execute(
            update(consents)
            .where(consents.c.id == int(ids["consent"]))
            .values(revoked_at=consents.c.granted_at)
        )
        outbox.record(conn, "consent", ids["consent"])
    report = verify(engine, verifiers(keys))
    assert report.ok and report.pending == 1  # checked before it has a leaf
    sequencer.integrate_all(engine)
    report = verify(engine, verifiers(keys))
    assert report.ok and report.superseded == 1 and report.tree_size == 16


def test_a_record_changed_before_it_has_a_leaf_is_caught(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = write_all_in(engine)
    batches = table_of(IngestBatch)
    with engine.begin() as conn:
        conn.execute(update(batches).values(status="failed"))
    first = verify(engine, verifiers(keys)).first
    assert first is not None and first.leaf_index is None
    assert (first.kind, first.record_id) == ("ingest_batch", ids["ingest_batch"])


def test_a_rolled_back_record_leaves_no_commitment(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        from tests.audit_records import write_all

        write_all(conn)
        raise RuntimeError("the record's transaction fails")
    with engine.connect() as conn:
        assert conn.execute(select(RECORDS.c.id)).first() is None


def test_committing_a_record_not_in_the_transaction_is_refused(engine: Engine) -> None:
    with pytest.raises(outbox.MissingRecordError, match="decision"), engine.begin() as conn:
        outbox.record(conn, "decision", "D-none")


# --- erasure ---------------------------------------------------------------------------


def test_erasure_destroys_the_salt_and_the_tree_stays_verifiable(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = _logged(engine, keys)
    with engine.connect() as conn:
        root_before = tile_store.root(conn, tile_store.tree_size(conn))
    report = erase(engine, PERSON, request_ref="test")
    assert report.rows_deleted["audit_records_unlinked"] == 4  # consent, decision, alert, action
    checked = verify(engine, verifiers(keys))
    assert checked.ok, [p.describe() for p in checked.problems]
    assert checked.unlinkable == 4 and checked.records_checked == 11
    with engine.connect() as conn:
        assert tile_store.root(conn, tile_store.tree_size(conn)) == root_before
        left = conn.execute(
            select(RECORDS.c.salt, RECORDS.c.person_id).where(RECORDS.c.erased_at.is_not(None))
        ).all()
    assert left and all(salt is None and person is None for salt, person in left)
    with pytest.raises(proofs.ProofUnavailableError, match="erased"):
        proofs.prove(engine, keys, "decision", ids["decision"])


def test_a_salt_destroyed_without_an_erasure_is_named(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    """Nulling a salt must not pass a changed record off as erased."""
    ids = _logged(engine, keys)
    consents = table_of(Consent)
    with engine.begin() as conn:
        conn.execute(
            update(consents)
            .where(consents.c.id == int(ids["consent"]))
            .values(granted_at=AT - timedelta(days=30))
        )
        conn.execute(
            update(RECORDS)
            .where(RECORDS.c.kind == "consent", RECORDS.c.record_id == ids["consent"])
            .values(salt=None)
        )
    first = verify(engine, verifiers(keys)).first
    assert first is not None and (first.kind, first.record_id) == ("consent", ids["consent"])
    assert "not by an erasure" in first.what
    with engine.begin() as conn:  # marked erased too, but the person was not
        conn.execute(update(RECORDS).where(RECORDS.c.salt.is_(None)).values(erased_at=AT))
    first = verify(engine, verifiers(keys)).first
    assert first is not None and "person was not erased" in first.what


def test_an_immutable_record_changed_and_committed_again_is_named(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    """Changing a decision and logging it afresh leaves two commitments to one decision."""
    ids = _logged(engine, keys)
    decisions = table_of(DecisionRecord)
    with engine.begin() as conn:
        _without_decision_trigger(conn, engine)
        conn.execute(
            update(decisions).where(decisions.c.id == ids["decision"]).values(outcome="decline")
        )
        outbox.record(conn, "decision", ids["decision"])
    sequencer.integrate_all(engine)
    report = verify(engine, verifiers(keys))
    first = report.first
    assert first is not None and (first.kind, first.record_id) == ("decision", ids["decision"])
    assert first.what == "an immutable record was committed again" and first.leaf_index == 15


def test_a_record_written_without_a_commitment_is_named_until_backfilled(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    _logged(engine, keys)
    actions = table_of(AlertAction)
    with engine.begin() as conn:
        written = conn.execute(
            insert(actions).values(
                alert_id="A1", person_id=PERSON, action="lift", params={}, outcome="lifted",
                actor="insider", at=AT,
            )
        ).inserted_primary_key  # fmt: skip
    assert written is not None
    first = verify(engine, verifiers(keys)).first
    assert first is not None and first.leaf_index is None
    assert (first.kind, first.record_id) == ("alert_action", str(written[0]))
    assert first.what == "the record has no commitment in the log"
    with engine.begin() as conn:
        assert outbox.backfill(conn, "alert_action") == 1
        assert outbox.backfill(conn, "alert_action") == 0
    sequencer.integrate_all(engine)
    assert verify(engine, verifiers(keys)).ok


# --- receipts ----------------------------------------------------------------------------


def test_a_receipt_and_its_opening_verify_offline_and_refuse_a_change(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = write_all_in(engine)  # nothing integrated: the receipt asks for a checkpoint
    proof = proofs.prove(engine, keys, "decision", ids["decision"])
    verified = verify_receipt(proof.receipt, keys.signers[0].verifier())
    assert verified.index == proof.leaf_index and verified.checkpoint.size == 8
    assert proofs.check_opening(verified.entry, proof.opening) is None
    fields = json.loads(proof.opening["message"])["fields"]
    assert fields["outcome"] == "approve" and fields["person_id"] == PERSON
    changed = dict(proof.opening, message=proof.opening["message"].replace("approve", "decline"))
    assert proofs.check_opening(verified.entry, changed) is not None
    other_salt = dict(proof.opening, salt="00" * 32)
    assert proofs.check_opening(verified.entry, other_salt) is not None
    tampered = proof.receipt.replace(b"index ", b"index 1", 1)
    with pytest.raises(Exception):  # noqa: B017 - any refusal will do, the test below names it
        verify_receipt(tampered, keys.signers[0].verifier())
    _head, rest = proof.receipt.split(b"\nindex", 1)
    other_entry = commitment.entry("decision", bytes(32))
    forged = b"c2sp.org/tlog-proof@v1\nextra " + base64.b64encode(other_entry)
    with pytest.raises(InclusionProofError):
        verify_receipt(forged + b"\nindex" + rest, keys.signers[0].verifier())


# --- concurrency of the sequencer ------------------------------------------------------


def test_two_sequencers_never_integrate_a_commitment_twice(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    for n in range(20):
        write_all_in(engine, person_id=f"P{n:07d}", suffix=f"x{n}")
    errors: list[BaseException] = []

    def integrate() -> None:
        try:
            while sequencer.integrate(engine, limit=7):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=integrate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    with engine.connect() as conn:
        leaves = sorted(conn.execute(select(RECORDS.c.leaf_index)).scalars())
        assert leaves == list(range(len(leaves))) == list(range(tile_store.tree_size(conn)))
    sequencer.publish(engine, keys)
    assert verify(engine, verifiers(keys)).ok


# --- witnesses: k-of-n publication and a split view ---------------------------------------


@contextmanager
def witness_server(
    tmp_path: Path, name: str, log_keys: dict[str, list[note.Verifier]]
) -> Iterator[tuple[str, str]]:
    """A real witness over HTTP: its URL and its cosigner verifier key string."""
    signer = generate_cosigner(name)
    store = open_store(tmp_path / f"{name.replace('/', '_')}.db")
    try:
        with serving_in_thread(create_witness_app(Witness(store, log_keys, [signer]))) as url:
            yield url, format_verifier(signer.verifier())
    finally:
        store.engine.dispose()


def _policy(witnesses: list[tuple[str, str, str]], threshold: int) -> Any:
    return parse_witness_policy(
        {
            "witnesses": [{"name": n, "key": k, "url": u} for n, u, k in witnesses],
            "groups": [
                {
                    "name": "partners",
                    "threshold": threshold,
                    "members": [n for n, _, _ in witnesses],
                }
            ],
            "quorum": "partners",
        }
    )


def test_a_checkpoint_is_published_only_when_the_witness_quorum_is_met(
    sqlite_url: str, tmp_path: Path, keys: sequencer.LogKeys
) -> None:
    from creditgraph.store.db import migrated_engine

    trusted = {keys.origin: verifiers(keys)}
    with (
        migrated_engine(sqlite_url) as engine,
        witness_server(tmp_path, "bank-a.example/w", trusted) as (url_a, key_a),
        witness_server(tmp_path, "bank-b.example/w", trusted) as (url_b, key_b),
    ):
        ids = write_all_in(engine)
        down = f"http://127.0.0.1:{free_port()}"
        both = _policy([("a", url_a, key_a), ("b", down, key_b)], threshold=2)
        sequencer.integrate_all(engine)
        made = sequencer.publish(engine, keys, policy=both)
        assert made is not None and not made.published
        assert "not met" in made.detail and "b refused" in made.detail
        with engine.connect() as conn:
            assert sequencer.latest(conn) is None
        policy = _policy([("a", url_a, key_a), ("b", url_b, key_b)], threshold=2)
        made = sequencer.publish(engine, keys, policy=policy, force=True)
        assert made is not None and made.published and len(made.cosigners) == 2
        write_all_in(engine, person_id="P0000002", suffix="2")
        proof = proofs.prove(engine, keys, "decision", "D2", policy=policy)
        verified = verify_receipt(proof.receipt, keys.signers[0].verifier(), policy=policy)
        assert set(verified.cosigners) == {"bank-a.example/w", "bank-b.example/w"}
        stranger = format_verifier(generate_cosigner("bank-c.example/w").verifier())
        one_only = _policy([("a", url_a, key_a), ("c", down, stranger)], threshold=2)
        with pytest.raises(WitnessPolicyNotMetError):
            verify_receipt(proof.receipt, keys.signers[0].verifier(), policy=one_only)
        assert proofs.prove(engine, keys, "decision", ids["decision"], policy=policy)


def test_a_split_view_is_refused_by_the_witness_that_saw_the_other_tree(
    tmp_path: Path, keys: sequencer.LogKeys
) -> None:
    """The log shows partner A one tree and partner B another of the same size, signed by the
    same key; the witness both partners rely on cosigns the first and refuses the second."""
    from creditgraph.store.db import migrated_engine

    trusted = {keys.origin: verifiers(keys)}
    with (
        migrated_engine(f"sqlite:///{tmp_path / 'view_a.db'}") as view_a,
        migrated_engine(f"sqlite:///{tmp_path / 'view_b.db'}") as view_b,
        witness_server(tmp_path, "shared.example/w", trusted) as (url, key),
    ):
        policy = _policy([("shared", url, key)], threshold=1)
        write_all_in(view_a)
        write_all_in(view_b)  # the same records, fresh salts: another tree of the same size
        for view in (view_a, view_b):
            sequencer.integrate_all(view)
        shown_a = sequencer.publish(view_a, keys, policy=policy)
        shown_b = sequencer.publish(view_b, keys, policy=policy)
        assert shown_a is not None and shown_a.published
        assert shown_b is not None and not shown_b.published
        assert shown_a.size == shown_b.size
        assert "holds size 8 with another tree" in shown_b.detail


# --- key rotation ---------------------------------------------------------------------


def test_a_rotated_key_signs_beside_the_previous_one_until_finished(
    engine: Engine, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    old = keyfile.load_or_create(keys_dir)
    write_all_in(engine)
    before = proofs.prove(engine, old, "decision", "D1")
    rotated = keyfile.rotate(keys_dir)
    assert rotated.origin == old.origin and rotated.signers[1].key_id == old.signers[0].key_id
    write_all_in(engine, person_id="P0000002", suffix="2")
    during = proofs.prove(engine, keyfile.load_or_create(keys_dir), "decision", "D2")
    for signer in rotated.signers:  # a partner with either key accepts it
        verify_receipt(during.receipt, signer.verifier())
    retired = keyfile.finish_rotation(keys_dir)
    assert retired.parent.name == "audit-retired" and (retired.stat().st_mode & 0o077) == 0
    after_keys = keyfile.load_or_create(keys_dir)
    assert len(after_keys.signers) == 1
    write_all_in(engine, person_id="P0000003", suffix="3")
    after = proofs.prove(engine, after_keys, "decision", "D3")
    verify_receipt(after.receipt, after_keys.signers[0].verifier())
    with pytest.raises(Exception):  # noqa: B017 - the old key alone no longer vouches for it
        verify_receipt(after.receipt, old.signers[0].verifier())
    verify_receipt(before.receipt, old.signers[0].verifier())  # old receipts still verify
    assert verify(engine, verifiers(after_keys)).ok
    with pytest.raises(keyfile.AuditKeyFileError, match="no rotation"):
        keyfile.finish_rotation(keys_dir)


# --- the command line -----------------------------------------------------------------


def test_prove_verify_receipt_and_verify_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from creditgraph.store.db import migrated_engine

    home = tmp_path / "home"
    monkeypatch.setenv("CREDITGRAPH_HOME", str(home))
    monkeypatch.delenv("CREDITGRAPH_DB_URL", raising=False)
    runner = CliRunner()
    with migrated_engine(f"sqlite:///{home.resolve() / 'creditgraph.db'}") as engine:
        ids = write_all_in(engine)
    out = tmp_path / "decision.tlog-proof"
    result = runner.invoke(
        cli_app, ["audit", "prove", "decision", ids["decision"], "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    pub = home.resolve() / "keys" / "audit.pub"
    opening = Path(str(out) + ".opening.json")
    result = runner.invoke(
        cli_app,
        ["audit", "verify-receipt", str(out), "--key", str(pub), "--opening", str(opening)],
    )
    assert result.exit_code == 0, result.output
    assert "opened: the entry commits to decision D1" in result.output
    result = runner.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 0, result.output
    url = f"sqlite:///{home.resolve() / 'creditgraph.db'}"
    with migrated_engine(url) as engine, engine.begin() as conn:
        conn.execute(update(table_of(Alert)).where(table_of(Alert).c.id == "A1").values(rule="x"))
    result = runner.invoke(cli_app, ["audit", "verify"])
    assert result.exit_code == 1
    assert "TAMPERED: first changed entry is leaf" in result.output
    assert "(alert A1)" in result.output
    result = runner.invoke(cli_app, ["audit", "prove", "decision", "nope", "--out", str(out)])
    assert result.exit_code == 1 and "no decision 'nope'" in result.output
    result = runner.invoke(cli_app, ["audit", "prove", "loan", "L1", "--out", str(out)])
    assert result.exit_code == 1 and "no audit record kind" in result.output
    assert "Traceback" not in result.output


def test_merkle_root_of_the_entries_is_the_checkpoint_root(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    """What a partner reading only entry bundles recomputes is the signed root."""
    _logged(engine, keys)
    with engine.connect() as conn:
        size = tile_store.tree_size(conn)
        bundle = tile_store.read_bundle(conn, Bundle(0, size))
        published = sequencer.latest(conn)
    assert bundle is not None and published is not None
    entries = decode_bundle(bundle)
    text_part = published.note[: published.note.index(b"\n\n") + 1]
    assert parse_checkpoint(text_part).root_hash == merkle.root(entries)


def test_a_slow_publication_never_takes_the_published_checkpoint_backwards(
    sqlite_url: str, tmp_path: Path, keys: sequencer.LogKeys
) -> None:
    from creditgraph.audit.witness_client import post_add_checkpoint
    from creditgraph.store.db import migrated_engine

    trusted = {keys.origin: verifiers(keys)}
    with (
        migrated_engine(sqlite_url) as engine,
        witness_server(tmp_path, "bank-a.example/w", trusted) as (url, key),
    ):
        policy = _policy([("a", url, key)], threshold=1)
        write_all_in(engine)
        sequencer.integrate_all(engine)
        asked, release = threading.Event(), threading.Event()

        def slow_post(*args: Any) -> Any:
            reply = post_add_checkpoint(*args)  # cosigned at size 8, the answer held back
            asked.set()
            release.wait(30)
            return reply

        slow: list[Any] = []
        first = threading.Thread(
            target=lambda: slow.append(
                sequencer.publish(engine, keys, policy=policy, post=slow_post)
            )
        )
        first.start()
        assert asked.wait(30)
        write_all_in(engine, person_id="P0000002", suffix="2")
        sequencer.integrate_all(engine)
        bigger = sequencer.publish(engine, keys, policy=policy)
        assert bigger is not None and bigger.published and bigger.size == 15
        release.set()
        first.join(30)
        # the slow one was cosigned at size 8 before the other, and stored after it
        with engine.connect() as conn:
            newest = sequencer.latest(conn)
        assert newest is not None and newest.size == 15
        assert slow and slow[0] is not None and slow[0].size == 8 and not slow[0].published
        assert "was published meanwhile" in slow[0].detail


def test_one_witness_returning_a_bad_line_does_not_cost_the_others_cosignatures(
    sqlite_url: str, tmp_path: Path, keys: sequencer.LogKeys
) -> None:
    from creditgraph.audit.witness_client import WitnessReply, post_add_checkpoint
    from creditgraph.store.db import migrated_engine

    trusted = {keys.origin: verifiers(keys)}
    with (
        migrated_engine(sqlite_url) as engine,
        witness_server(tmp_path, "bank-a.example/w", trusted) as (url_a, key_a),
        witness_server(tmp_path, "bank-b.example/w", trusted) as (url_b, key_b),
    ):

        def faulty_b(url: str, *args: Any) -> WitnessReply:
            reply = post_add_checkpoint(url, *args)
            if url != url_b:
                return reply
            flipped = (
                reply.body[:-6] + (b"A" if reply.body[-6:-5] != b"A" else b"B") + reply.body[-5:]
            )
            return WitnessReply(reply.status, reply.content_type, flipped)

        policy = _policy([("a", url_a, key_a), ("b", url_b, key_b)], threshold=1)
        write_all_in(engine)
        sequencer.integrate_all(engine)
        made = sequencer.publish(engine, keys, policy=policy, post=faulty_b)
        assert made is not None and made.published
        assert made.cosigners == ("bank-a.example/w",)
        assert made.refusals == (made.refusals[0],) and "b: bad cosignature" in made.refusals[0], (
            made.refusals
        )


def test_a_key_of_another_origin_signs_nothing(engine: Engine, tmp_path: Path) -> None:
    keys = keyfile.load_or_create(tmp_path / "keys")
    write_all_in(engine)
    sequencer.integrate_all(engine)
    sequencer.publish(engine, keys)
    stranger = keyfile.load_or_create(tmp_path / "other-home-keys")
    with pytest.raises(sequencer.LogIdentityError, match="another home"):
        sequencer.publish(engine, stranger, force=True)
    with pytest.raises(keyfile.AuditKeyFileError, match="no key"):
        keyfile.load(tmp_path / "missing")


def test_verify_after_a_finished_rotation_uses_the_retired_key(
    engine: Engine, tmp_path: Path
) -> None:
    keys_dir = tmp_path / "keys"
    old = keyfile.load_or_create(keys_dir)
    write_all_in(engine)
    sequencer.integrate_all(engine)
    sequencer.publish(engine, old)  # signed by the old key only
    keyfile.rotate(keys_dir)
    keyfile.finish_rotation(keys_dir)  # no new leaf: the latest checkpoint is the old key's
    report = verify(engine, keyfile.all_verifiers(keys_dir))
    assert report.ok, [p.describe() for p in report.problems]
    current_only = verify(engine, verifiers(keyfile.load(keys_dir)))
    assert not current_only.ok and current_only.first is not None
    assert current_only.first.describe().startswith("the log: the latest published checkpoint")


def test_an_opening_that_is_not_canonical_is_refused(
    engine: Engine, keys: sequencer.LogKeys
) -> None:
    ids = write_all_in(engine)
    proof = proofs.prove(engine, keys, "decision", ids["decision"])
    entry = verify_receipt(proof.receipt, keys.signers[0].verifier()).entry
    message = proof.opening["message"]
    doubled = message.replace('"fields":{', '"fields":{"outcome":"decline",', 1)
    assert proofs.check_opening(entry, dict(proof.opening, message=doubled)) is not None
    spaced = message.replace(",", ", ")
    assert "canonical" in (proofs.check_opening(entry, dict(proof.opening, message=spaced)) or "")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)  # every example rolls back what it wrote
@given(
    postings=st.lists(
        st.tuples(
            st.integers(0, 9),
            st.sampled_from(["cash", "loan_principal", "interest"]),
            st.integers(1, 10_000),
        ),
        max_size=30,
    ),
    asked=st.lists(st.integers(-1, 11), min_size=1, max_size=6),
)
def test_the_books_of_every_day_in_one_pass_equal_each_day_summed_alone(
    sqlite_url: str, postings: list[tuple[int, str, int]], asked: list[int]
) -> None:
    from creditgraph.audit.kinds import trial_balance_digests, trial_balance_sha256
    from creditgraph.store.db import migrated_engine

    with migrated_engine(sqlite_url) as engine, engine.begin() as conn:
        conn.execute(delete(table_of(JournalLine)))
        if postings:
            write_all(conn, suffix="p")  # a loan and its transaction for the lines to hang on
            conn.execute(delete(table_of(JournalLine)))
            conn.execute(
                insert(table_of(JournalLine)),
                [
                    {"transaction_id": "Tp", "loan_id": "Lp", "account": account,
                     "debit_fen": amount if n % 2 else 0, "credit_fen": 0 if n % 2 else amount,
                     "business_date": DAY0 + timedelta(days=offset)}
                    for n, (offset, account, amount) in enumerate(postings)
                ],
            )  # fmt: skip
        days = [DAY0 + timedelta(days=a) for a in asked]
        assert trial_balance_digests(conn, days) == {
            day: trial_balance_sha256(conn, day) for day in days
        }
        conn.rollback()


DAY0 = date(2026, 5, 1)
