"""Demo stage 9: privacy and compliance as running code.

* A person withdraws one social source's credit-assessment and monitoring consent: the receipts
  carry the consent text's hash, a purge of the source's rows is scheduled, the monitoring door
  refuses the source's next event, and the next feature build no longer uses any of its rows.
* A borrower is erased on request: the export of everything held about them comes first (JSON
  and a zh/en page), then the erasure (rows deleted, data key destroyed, loans kept under a
  legal hold), the lake's compaction, and a master-key rotation so that a backup taken before
  can no longer be read either. Then the proof: the person's lender id, name and phone are in
  none of the bytes of the database file, its WAL, the lake, the feature snapshots or that
  backup; the pseudonym is in no lake file; and a second export is refused.
* The compliance report: every requirement of the CN pack with the code that enforces it and
  the test that shows it, and the fairness of the decisions made.
"""

from __future__ import annotations

import mmap
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from sqlalchemy import Engine, and_, func, or_, select

from creditgraph.console.display import json_text, print_table
from creditgraph.demo.context import DemoContext

SOCIAL_SHOWN = ("degree", "outgoing_90d", "interactions_90d", "devices", "active_days_90d")
"""Features built from the person's own social rows: what a withdrawn source takes away."""
OFFICER = "user:demo-officer"


def privacy_stage(ctx: DemoContext) -> None:
    from creditgraph.store.db import migrated_engine

    ctx.console.rule("9. Privacy and compliance: consent, erasure, compliance report 隐私与合规")
    folder = ctx.settings.home_dir / "demo-privacy"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    with migrated_engine(ctx.settings.database_url) as db:
        _revocation(ctx, db)
        _erasure(ctx, db, folder)
        _compliance(ctx, db)


# -- a consent withdrawn ---------------------------------------------------------------------


def _revocation(ctx: DemoContext, db: Engine) -> None:
    from creditgraph.features.service import build_and_store
    from creditgraph.monitoring.door import Door
    from creditgraph.monitoring.intake import submit_events
    from creditgraph.privacy import consent
    from creditgraph.privacy.access_log import record_access
    from creditgraph.privacy.fieldcrypt import read_identity
    from creditgraph.privacy.keys import provider_for

    as_of = ctx.results["simulation_config"].end_date
    at = datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=UTC)
    person, source = _one_source_person(db, at)
    before = _features(db, person)
    receipts = [
        *consent.revoke_active(db, person, source, "credit_assessment", at=at),
        *consent.revoke_active(db, person, source, "monitoring", at=at),
    ]
    ctx.console.print(
        f"consent revoked 撤回同意: person {person} withdrew {source} "
        f"({', '.join(r.purpose for r in receipts)}) at {at:%Y-%m-%d %H:%M} UTC"
    )
    for receipt in receipts:
        purge = (
            f"; purge of the source's rows scheduled (job {receipt.purge_job_id}) 已排期清除"
            if receipt.purge_job_id
            else ""
        )
        ctx.console.print(
            f"  receipt 回执: consent {receipt.consent_id} {receipt.purpose}, text "
            f"{receipt.text_version} sha256 {(receipt.text_sha256 or '-')[:16]}…{purge}"
        )
    with db.begin() as conn:  # the door needs the lender's own id: a read, logged as one
        external_id = read_identity(conn, provider_for(conn), person).external_id
        record_access(conn, "job:demo", "job", person, "monitoring", ["identity"], "read")
    event = {
        "event_id": "demo-privacy-after-revocation",
        "type": "activity_day",
        "person_id": external_id,
        "occurred_at": (at + timedelta(hours=6)).isoformat(),
        "source": source,
        "version": 1,
        "date": as_of.isoformat(),
        "active_minutes": 45,
        "posts": 1,
        "logins": 2,
    }
    result = submit_events(db, Door.from_settings(ctx.settings), [event])
    reasons = ", ".join(f"{k} {v}" for k, v in result.refused.items() if v) or "none"
    ctx.console.print(
        f"monitoring door 监控入口: the source's next event: {result.accepted} accepted, "
        f"refused: {reasons}"
    )
    with ctx.console.status("rebuilding the features without the withdrawn source…"):
        build_and_store(ctx.settings, as_of)
    after = _features(db, person)
    ctx.console.print(
        "  ties others declared to this person stay (their consent, not this person's) "
        "他人声明的关系仍保留"
    )
    table = Table(title=f"features after the revocation 撤回后的特征 ({person})")
    for name in ("feature", "before 撤回前", "after 撤回后"):
        table.add_column(name, justify="left" if name == "feature" else "right")
    for name in SOCIAL_SHOWN:
        table.add_row(name, _short(before.get(name)), _short(after.get(name)))
    print_table(ctx.console, table)
    ctx.results["privacy_revocation"] = {"person": person, "source": source, "after": after}


def _one_source_person(db: Engine, at: datetime) -> tuple[str, str]:
    """The person with the most outgoing interactions among those whose only active
    credit-assessment consent is one source, which they also consent to be monitored on."""
    from creditgraph.store.models import Consent, OnlineFeatures, table_of

    consents = table_of(Consent).c
    naive = at.replace(tzinfo=None)
    active = and_(
        consents.granted_at <= naive,
        or_(consents.expires_at.is_(None), consents.expires_at > naive),
        consents.revoked_at.is_(None),
    )
    with db.connect() as conn:
        single = (
            select(consents.person_id, func.min(consents.source).label("source"))
            .where(active, consents.purpose == "credit_assessment")
            .group_by(consents.person_id)
            .having(func.count(func.distinct(consents.source)) == 1)
            .subquery()
        )
        monitored = {
            (p, s)
            for p, s in conn.execute(
                select(consents.person_id, consents.source).where(
                    active, consents.purpose == "monitoring"
                )
            )
        }
        rows = conn.execute(
            select(single.c.person_id, single.c.source, table_of(OnlineFeatures).c["values"])
            .join(
                table_of(OnlineFeatures),
                table_of(OnlineFeatures).c.person_id == single.c.person_id,
            )
            .order_by(single.c.person_id)
        ).all()
    ranked = sorted(
        (row for row in rows if (row.person_id, row.source) in monitored),
        key=lambda row: (-float(row[2].get("outgoing_90d") or 0), row.person_id),
    )
    if not ranked:
        raise RuntimeError("no person with one monitored social source to withdraw")
    return ranked[0].person_id, ranked[0].source


def _features(db: Engine, person: str) -> dict[str, Any]:
    from creditgraph.store.models import OnlineFeatures, table_of

    online = table_of(OnlineFeatures)
    with db.connect() as conn:
        values = conn.execute(
            select(online.c["values"]).where(online.c.person_id == person)
        ).scalar_one()
    return dict(values)


# -- a person erased -------------------------------------------------------------------------


def _erasure(ctx: DemoContext, db: Engine, folder: Path) -> None:
    from creditgraph.decision.subject.export import counts
    from creditgraph.decision.subject.page import render_page
    from creditgraph.decision.subject.requests import ErasedSubjectError
    from creditgraph.decision.subject.service import Actor, SubjectService
    from creditgraph.privacy.compaction import compact
    from creditgraph.privacy.keys import master_key_file
    from creditgraph.privacy.pseudonym import Pseudonymiser, load_or_create_key
    from creditgraph.privacy.rotation import rotate_master_key
    from creditgraph.store.files import private_file

    person, identity = _a_named_borrower(db)
    officer = Actor(OFFICER, "user")
    pseudonyms = Pseudonymiser(load_or_create_key(ctx.settings.key_file))
    service = SubjectService(
        db,
        pseudonyms,
        lake_dir=ctx.settings.lake_dir,
        quarantine_dir=ctx.settings.quarantine_dir,
    )
    found = {
        "lender id": identity.external_id,
        "name": identity.name,
        "phone": identity.phone,
        "id number": identity.id_number,
    }
    secrets = {k: v for k, v in found.items() if v}

    document = service.export(person, officer)
    json_path, html_path = folder / "export.json", folder / "export.zh.html"
    private_file(json_path).write_text(json_text(document), encoding="utf-8")
    private_file(html_path).write_text(render_page(document, "zh"), encoding="utf-8")
    held = ", ".join(f"{name} {n}" for name, n in counts(document).items() if n)
    ctx.console.print(
        f"export before the erasure 删除前导出: person {person}: {held} → "
        f"{json_path.name}, {html_path.name}"
    )

    backup = _backup(ctx.settings.database_url, folder / "backup-before-erasure.db")
    answer = service.erase(person, officer, reference="demo-erasure-1")
    deleted = answer.get("result", {}).get("rows_deleted", {})
    ctx.console.print(
        f"erased 已删除: request {answer['id']} {answer['status']}; "
        f"{sum(deleted.values()):,} rows deleted or unlinked, data key destroyed"
    )
    holds = _holds(db, person)
    for hold in holds:
        ctx.console.print(
            f"  legal hold 法定保留: {hold['data_class']} until {hold['held_until']} "
            f"({hold['basis']})"
        )
    with ctx.console.status("compacting the lake without the erased and withdrawn rows…"):
        compacted = compact(db, ctx.settings.lake_dir)
    ctx.console.print(
        f"lake compacted 数据湖压缩: {compacted.rows_removed:,} rows removed from "
        f"{sum(t.parts_rewritten for t in compacted.tables.values()):,} parts in "
        f"{compacted.seconds:.1f} s"
    )
    rotation = rotate_master_key(db, master_key_file(ctx.settings))
    ctx.console.print(
        f"master key rotated 主密钥轮换: {rotation.rewrapped:,} data keys re-wrapped; the old "
        "key file is destroyed, so the backup taken before the erasure can no longer be read"
    )
    _prove_gone(ctx, folder, backup, secrets, person)
    try:
        service.export(person, officer)
    except ErasedSubjectError as refused:
        ctx.console.print(f"export after the erasure 删除后导出: refused — {refused}")
    else:  # pragma: no cover - the export of an erased person must be refused
        raise RuntimeError("an erased person's export was answered")


def _a_named_borrower(db: Engine) -> tuple[str, Any]:
    """The earliest borrower on record with a name and a phone (an erasure that must keep loan
    records, and has every kind of identifier to look for afterwards); each identity read for
    the choice is in the access log."""
    from creditgraph.privacy.access_log import record_access
    from creditgraph.privacy.fieldcrypt import read_identity
    from creditgraph.privacy.keys import provider_for
    from creditgraph.privacy.purpose import SUBJECT_REQUEST
    from creditgraph.store.models import Loan, table_of

    loans = table_of(Loan).c
    with db.begin() as conn:
        people = conn.execute(
            select(loans.person_id).order_by(loans.created_at, loans.id).limit(50)
        ).scalars()
        for person in dict.fromkeys(people):
            identity = read_identity(conn, provider_for(conn), person)
            record_access(conn, "job:demo", "job", person, SUBJECT_REQUEST, ["identity"], "read")
            if identity.name and identity.phone:
                return str(person), identity
    raise RuntimeError("no borrower with a name and a phone to erase")


def _holds(db: Engine, person: str) -> list[dict[str, Any]]:
    from creditgraph.store.models import LegalHold, table_of

    holds = table_of(LegalHold).c
    with db.connect() as conn:
        rows = conn.execute(
            select(holds.data_class, holds.held_until, holds.basis).where(holds.person_id == person)
        ).mappings()
        return [dict(row) for row in rows]


def _backup(database_url: str, path: Path) -> Path | None:
    """A byte-for-byte copy of the SQLite database as an operator's nightly backup would be."""
    if not database_url.startswith("sqlite:///"):
        return None
    path.unlink(missing_ok=True)
    source = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    path.chmod(0o600)
    return path


def _prove_gone(
    ctx: DemoContext, folder: Path, backup: Path | None, secrets: dict[str, str], person: str
) -> None:
    """Search the bytes of every file that holds the book for what identified the person."""
    home = ctx.settings.home_dir
    groups: dict[str, list[Path]] = {}
    url = ctx.settings.database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        groups["database 数据库"] = [
            p for p in (database, Path(f"{database}-wal"), Path(f"{database}-shm")) if p.exists()
        ]
    groups["lake 数据湖"] = sorted(ctx.settings.lake_dir.rglob("*.parquet"))
    groups["feature snapshots 特征快照"] = sorted((home / "features").rglob("*.parquet"))
    if backup is not None:
        groups["backup before the erasure 删除前备份"] = [backup]
    needles = {name: value.encode() for name, value in secrets.items()}
    table = Table(title="is anything of the erased person left? 被删除者的数据是否残留")
    table.add_column("where 位置")
    for name in ("files 文件", "MB", *needles, "pseudonym 假名"):
        table.add_column(name, justify="right")
    total_hits = 0
    for group, paths in groups.items():
        hits = dict.fromkeys(needles, 0)
        pseudonym_hits = 0
        size = 0
        for path in paths:
            size += path.stat().st_size
            found = _occurrences(path, [*needles.values(), person.encode()])
            for name, n in zip(needles, found, strict=False):
                hits[name] += n
            pseudonym_hits += found[-1]
        total_hits += sum(hits.values())
        in_lake = group.startswith(("lake", "feature"))
        table.add_row(
            group,
            f"{len(paths):,}",
            f"{size / 1e6:,.1f}",
            *(str(n) for n in hits.values()),
            str(pseudonym_hits) if in_lake else "kept (legal hold)",
        )
        if in_lake:
            total_hits += pseudonym_hits
    print_table(ctx.console, table)
    verdict = "not found in" if total_hits == 0 else "FOUND in"
    files = sum(len(p) for p in groups.values())
    ctx.console.print(
        f"the erased person's {', '.join(needles)}: {verdict} {files:,} files "
        f"({'无残留' if total_hits == 0 else '有残留'})"
    )
    ctx.results["privacy_erasure"] = {"person": person, "hits": total_hits, "files": files}
    if total_hits:
        raise RuntimeError("the erased person is still identifiable in the files above")


def _occurrences(path: Path, needles: list[bytes]) -> list[int]:
    """How often each needle occurs in the file's bytes (mapped, not read: a book's database
    runs to gigabytes)."""
    if path.stat().st_size == 0:
        return [0] * len(needles)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as m:
        out = []
        for needle in needles:
            n, at = 0, m.find(needle)
            while at >= 0:
                n += 1
                at = m.find(needle, at + 1)
            out.append(n)
        return out


# -- the compliance report -------------------------------------------------------------------


def _compliance(ctx: DemoContext, db: Engine) -> None:
    """The report over the month the demo's applications were decided in, and the fairness
    monitor's run over it (an alert for each group below four fifths)."""
    from creditgraph.compliance.fairness_store import current_period, monitor_fairness
    from creditgraph.compliance.pack_files import load_pack
    from creditgraph.compliance.render import render_text
    from creditgraph.compliance.service import compliance_check
    from creditgraph.demo.decisions import decision_time

    decided = decision_time(ctx.results["simulation_config"].end_date, ctx.settings.timezone)
    period = current_period(decided.replace(tzinfo=UTC))
    report = compliance_check(engine=db, period=period)
    ctx.console.print(render_text(report), markup=False, highlight=False)
    _, raised = monitor_fairness(db, load_pack().fairness, period=period)
    ctx.console.print(
        f"fairness monitor 公平性监控 ({period}): {len(raised)} fairness_disparity alert(s) raised"
    )
    ctx.results["compliance"] = report


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)
