"""The requirements a compliance check reports on: the rule, its legal basis, how its value in
force is measured against the pack, the code that enforces it and the test that shows it.

Code references are ``module:attribute`` and test references ``tests/file.py::test_name``;
``compliance.references`` verifies both at run time, so a renamed function or a deleted test
shows as MISSING instead of a citation that quietly rotted. A requirement with no code behind
it is listed with no references: the report says MISSING rather than leaving it out. A
requirement without a measure rests on its citations alone, and the report says CITED, not PASS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from creditgraph.compliance.pack import CompliancePack
from creditgraph.decision.config import DecisionConfig, Licence
from creditgraph.scoring.registry import FAMILIES

if TYPE_CHECKING:  # the facts are read by the service; the measures stay free of the database
    from creditgraph.compliance.facts import DatabaseFacts


@dataclass(frozen=True, slots=True)
class Context:
    """What a requirement is measured on: the pack, the decision configuration in force and,
    when a database is given, each family's champion model and its impact-assessment id."""

    pack: CompliancePack
    config: DecisionConfig
    champions: Mapping[str, tuple[str, str | None]] | None = None
    """Champion model id -> (family, the impact-assessment id it was registered with)."""
    facts: DatabaseFacts | None = None
    """What the database holds (``compliance.facts``), when one is given."""
    database_host: str | None = None
    """The host the configured database URL names (no credentials), when one is configured."""


Outcome = Literal["holds", "breached", "cited", "not_assessed"]
"""What a measurement found: the value in force holds against the pack or breaches it; or
nothing was measured and the row rests on the cited code and tests (``cited``), or the check
cannot see the value at all (``not_assessed``)."""


@dataclass(frozen=True, slots=True)
class Measured:
    pack_value: str
    in_force: str
    outcome: Outcome


def _verdict(ok: bool) -> Outcome:
    return "holds" if ok else "breached"


@dataclass(frozen=True, slots=True)
class Requirement:
    id: str
    area: str
    basis: str
    zh: str
    en: str
    code: tuple[str, ...]
    tests: tuple[str, ...]
    measure: Callable[[Context], Measured] | None = None


def _pct(value: Decimal) -> str:
    return f"{(value * 100).normalize():f}%"


def rate_cap(ctx: Context) -> Measured:
    """The configured licence's cap must not exceed the pack's cap for that licence."""
    pricing = ctx.config.pricing
    licence = pricing.licence.value
    cap = ctx.pack.rate_caps.get(licence)
    if pricing.licence is Licence.LPR_MULTIPLE:
        in_force = f"{pricing.lpr_multiple} x LPR {_pct(pricing.lpr_1y)} = {_pct(pricing.rate_cap)}"
        if cap is None or cap.max_lpr_multiple is None:
            return Measured(f"no LPR-multiple cap for {licence}", in_force, "breached")
        return Measured(
            f"{cap.max_lpr_multiple} x LPR ({licence})",
            in_force,
            _verdict(pricing.lpr_multiple <= cap.max_lpr_multiple),
        )
    in_force = f"{_pct(pricing.micro_lender_cap)} ({licence})"
    if cap is None or cap.annual_cap is None:
        return Measured(f"no annual cap for {licence}", in_force, "breached")
    return Measured(
        f"{_pct(cap.annual_cap)} ({licence})",
        in_force,
        _verdict(pricing.micro_lender_cap <= cap.annual_cap),
    )


def outstanding_cap(ctx: Context) -> Measured:
    pack, mine = ctx.pack.lending.outstanding_cap, ctx.config.limits.outstanding_cap
    return Measured(f"CNY {pack:,}", f"CNY {mine:,}", _verdict(mine <= pack))


def income_share(ctx: Context) -> Measured:
    pack, mine = ctx.pack.lending.income_share_cap, ctx.config.limits.income_share_cap
    return Measured(str(pack), str(mine), _verdict(mine <= pack))


def disclosure(ctx: Context) -> Measured:
    """The code computes the all-in rate on an IRR basis only: a pack asking for another basis
    is not met. Otherwise the row rests on the code cited (no offer is read here)."""
    shown = ctx.pack.disclosure.render(ctx.config.pricing.rate_cap)
    return Measured(
        f"basis {ctx.pack.disclosure.basis}; at the cap it reads: {shown.zh} / {shown.en}",
        "the code cited gives every offer all_in_rate, the IRR of its cash flows with fees; "
        "no offer is read here",
        "cited" if ctx.pack.disclosure.basis == "irr" else "breached",
    )


def cooling_off(ctx: Context) -> Measured:
    return Measured(
        f"{ctx.pack.lending.cooling_off_days} days",
        "not enforced: servicing has no withdrawal window yet",
        "not_assessed",
    )


def data_residency(ctx: Context) -> Measured:
    """Where the database runs is outside what the check can see; it says so, and names the
    configured database's host as evidence for whoever can verify it."""
    flag = ctx.pack.data_residency.personal_data_in_prc
    host = ctx.database_host or "no database URL configured"
    return Measured(
        "personal data stays in the PRC" if flag else "no residency rule",
        f"not assessed: the check cannot see where the database is hosted (database: {host}); "
        "no exporter sends personal data, partners receive commitments only (audit log)",
        "not_assessed",
    )


def impact_assessments(ctx: Context) -> Measured:
    """Every model family has a PIPIA id in the pack (else FAIL); with a database, every
    champion model carries its family's id. Without one, the champions are not assessed."""
    ids = ctx.pack.impact_assessments
    uncovered = [f for f in FAMILIES if f not in ids]
    pack_value = ", ".join(f"{f}={ids[f]}" for f in FAMILIES if f in ids) or "none"
    if uncovered:
        return Measured(pack_value, f"no id for {', '.join(uncovered)}", "breached")
    if ctx.champions is None:
        return Measured(pack_value, "not read (no database given)", "not_assessed")
    wrong = [
        model_id
        for model_id, (family, recorded) in ctx.champions.items()
        if family in ids and recorded != ids[family]
    ]
    in_force = (
        ", ".join(
            f"{model_id}={recorded or 'none'}"
            for model_id, (_, recorded) in sorted(ctx.champions.items())
        )
        or "no champion model"
    )
    return Measured(pack_value, in_force, _verdict(not wrong))


_NO_DATABASE = "not read (no database given); the code and tests cited exist"


def encryption(ctx: Context) -> Measured:
    """With a database: every personal column of the live schema is binary ciphertext and every
    person has a data key. Without one, the row rests on the code cited."""
    pack_value = "every personal field is ciphertext under the person's own data key"
    facts = ctx.facts
    if facts is None:
        return Measured(pack_value, _NO_DATABASE, "cited")
    plain = ", ".join(facts.plaintext_columns) or "none"
    in_force = (
        f"personal columns not binary ciphertext: {plain}; "
        f"{facts.persons_without_key} of {facts.persons} people without a data key"
    )
    ok = not facts.plaintext_columns and facts.persons_without_key == 0
    return Measured(pack_value, in_force, _verdict(ok))


def erasure(ctx: Context) -> Measured:
    """With a database: no erased pseudonym keeps a key, identity, person or consent row, and no
    subject request is open past its deadline. Access, copy and correction stay cited."""
    pack_value = (
        "an erased person keeps no key, identity, person or consent row; "
        "every request answered by its deadline"
    )
    facts = ctx.facts
    if facts is None:
        return Measured(pack_value, _NO_DATABASE, "cited")
    left = {table: n for table, n in facts.erased_with_rows.items() if n}
    rows_left = ", ".join(f"{table} {n}" for table, n in left.items()) or "none"
    in_force = (
        f"{facts.erased} erased, rows left: {rows_left}; {facts.open_requests} open request(s), "
        f"{facts.overdue_requests} past due (access, copy and correction: cited only)"
    )
    return Measured(pack_value, in_force, _verdict(not left and facts.overdue_requests == 0))


REQUIREMENTS: tuple[Requirement, ...] = (
    # -- lending ---------------------------------------------------------------------------------
    Requirement(
        "lending.rate_cap",
        "lending",
        "SPC private-lending provisions 2020 (法释〔2020〕17号) Art. 25; licence caps",
        "年化综合利率不超过持牌类型对应的上限",
        "The all-in annual rate stays within the licence's cap",
        (
            "creditgraph.decision.pricing:price",
            "creditgraph.decision.config:Pricing.rate_cap",
        ),
        (
            "tests/test_decision_limits_pricing.py::test_offered_all_in_rate_within_cap_and_equal_to_irr",
            "tests/test_decision_limits_pricing.py::test_fees_lower_the_nominal_rate_until_the_all_in_rate_fits",
            "tests/test_compliance_pack.py::test_a_looser_rate_cap_fails_the_check",
        ),
        rate_cap,
    ),
    Requirement(
        "lending.outstanding_cap",
        "lending",
        "Internet loans of commercial banks 2020; draft online micro-loan measures 2020",
        "单一借款人网络小额贷款余额上限",
        "Per-borrower online micro-loan balance cap",
        ("creditgraph.decision.limits:compute_limit",),
        ("tests/test_decision_limits_pricing.py::test_limit_never_above_any_cap",),
        outstanding_cap,
    ),
    Requirement(
        "lending.income_share",
        "lending",
        "Draft online micro-loan measures 2020: one third of annual income",
        "贷款余额不超过年收入的三分之一",
        "Balance at most one third of annual income",
        ("creditgraph.decision.limits:compute_limit",),
        ("tests/test_decision_limits_pricing.py::test_limit_never_above_any_cap",),
        income_share,
    ),
    Requirement(
        "lending.all_in_disclosure",
        "lending",
        "PBoC Announcement [2021] No. 3",
        "以年化综合资金成本（内部收益率法）披露利率",
        "Disclose the annualised all-in rate on an IRR basis",
        (
            "creditgraph.servicing.apr:schedule_all_in_rate",
            "creditgraph.decision.offers:make_offer",
            "creditgraph.compliance.pack:Disclosure.render",
        ),
        (
            "tests/test_apr.py::test_fees_raise_the_rate",
            "tests/test_decision_limits_pricing.py::test_offered_all_in_rate_within_cap_and_equal_to_irr",
            "tests/test_compliance_pack.py::test_the_disclosure_states_the_all_in_rate_in_both_languages",
        ),
        disclosure,
    ),
    Requirement(
        "lending.cooling_off",
        "lending",
        "lender's commitment (pack)",
        "冷静期内借款人可无费用撤回",
        "The borrower may withdraw without a fee during the cooling-off period",
        (),
        (),
        cooling_off,
    ),
    # -- privacy (PIPL) --------------------------------------------------------------------------
    Requirement(
        "privacy.consent_per_purpose",
        "privacy",
        "PIPL Art. 13-17",
        "按目的取得同意，可撤回，撤回即时生效",
        "Consent per purpose and source; revocable, effective at once",
        (
            "creditgraph.privacy.consent:grant",
            "creditgraph.privacy.consent:revoke",
            "creditgraph.privacy.purpose:require_consent",
            "creditgraph.ingest.consent_gate:apply_gate",
        ),
        (
            "tests/test_privacy_consent.py::test_a_grant_returns_a_receipt_whose_commitment_the_audit_log_holds",
            "tests/test_privacy_consent.py::test_bad_grants_are_refused_and_store_nothing",
            "tests/test_privacy_purpose.py::test_reading_without_a_valid_consent_fails_loudly",
            "tests/test_privacy_revocation.py::test_revoking_a_source_drops_it_from_the_next_build_and_schedules_its_purge",
            "tests/test_ingest.py::test_consent_gate_keeps_only_consented_social_rows",
        ),
    ),
    Requirement(
        "privacy.sharing",
        "privacy",
        "PIPL Art. 23",
        "向他人提供个人信息须取得单独同意",
        "Sharing with another party needs its own consent",
        (
            "creditgraph.privacy.purpose:require_consent",
            "creditgraph.audit.commitment:commit",
        ),
        (
            "tests/test_privacy_purpose.py::test_a_consent_covers_from_its_grant_until_expiry_or_revocation",
            "tests/test_audit_log.py::test_an_entry_carries_the_kind_and_commitment_only",
        ),
    ),
    Requirement(
        "privacy.sensitive_consent",
        "privacy",
        "PIPL Art. 28-30",
        "敏感个人信息（金融账户、收入等）须取得单独同意",
        "Sensitive personal information (financial accounts, income) needs separate consent",
        (
            "creditgraph.privacy.consent:grant",
            "creditgraph.privacy.purpose:require_consent",
            "creditgraph.privacy.purpose:sensitive_sources",
            "creditgraph.ingest.consent_gate:apply_gate",
        ),
        (
            "tests/test_privacy_consent.py::test_bad_grants_are_refused_and_store_nothing",
            "tests/test_sensitive_consent.py::test_only_a_separate_consent_backs_a_sensitive_read",
            "tests/test_sensitive_consent.py::test_a_scoped_read_keeps_sensitive_rows_only_under_a_separate_consent",
            "tests/test_privacy_purpose.py::test_sensitive_readers_are_known",
        ),
    ),
    Requirement(
        "privacy.automated_decision",
        "privacy",
        "PIPL Art. 24",
        "自动化决策透明，个人可拒绝仅由自动化决策作出的决定并要求人工复核",
        "Automated decisions are explained; a person may object and ask for human review",
        (
            "creditgraph.decision.service:DecisionService.request_review",
            "creditgraph.decision.review:ReviewWorkflow",
            "creditgraph.decision.subject.service:SubjectService.object",
        ),
        (
            "tests/test_decision_service.py::test_a_borrower_can_ask_for_a_human_review",
            "tests/test_decision_service.py::test_a_decision_is_stored_with_everything_that_explains_it",
            "tests/test_privacy_subject.py::test_an_objection_opens_a_review_of_the_decision_in_the_queue",
        ),
    ),
    Requirement(
        "privacy.access_correction_erasure",
        "privacy",
        "PIPL Art. 44-47",
        "个人可查阅、复制、更正、删除其个人信息",
        "A person may access, copy, correct and erase their personal information",
        (
            "creditgraph.decision.subject.service:SubjectService.export",
            "creditgraph.decision.subject.service:SubjectService.correct",
            "creditgraph.decision.subject.service:SubjectService.erase",
            "creditgraph.privacy.erasure:erase",
            "creditgraph.privacy.compaction:compact",
        ),
        (
            "tests/test_privacy_subject.py::test_the_export_holds_every_section_and_shows_who_read_the_data",
            "tests/test_privacy_subject.py::test_a_correction_changes_the_sealed_value_and_records_only_the_field_name",
            "tests/test_privacy_subject.py::test_a_filed_request_is_due_in_fifteen_days_and_listed_once_overdue",
            "tests/test_privacy_erasure.py::test_after_erasure_no_file_holds_the_persons_identifiers_not_even_an_earlier_backup",
            "tests/test_privacy_erasure.py::test_a_borrowers_loans_and_journal_stay_under_a_legal_hold_of_five_years",
            "tests/test_privacy_compaction.py::test_the_erased_pseudonym_is_in_no_parquet_files_bytes",
            "tests/test_audit_log.py::test_erasure_destroys_the_salt_and_the_tree_stays_verifiable",
            "tests/test_compliance_pack.py::test_the_database_facts_pass_a_clean_database_and_fail_a_leftover",
        ),
        erasure,
    ),
    Requirement(
        "privacy.encryption",
        "privacy",
        "PIPL Art. 51",
        "个人信息字段加密存储，去标识化，删除即销毁密钥",
        "Personal fields encrypted and pseudonymised; erasure destroys the person's key",
        (
            "creditgraph.privacy.fieldcrypt:seal",
            "creditgraph.privacy.fieldcrypt:shred",
            "creditgraph.privacy.keys:open_master_key",
            "creditgraph.privacy.rotation:rotate_master_key",
            "creditgraph.privacy.pseudonym:Pseudonymiser",
        ),
        (
            "tests/test_privacy_crypto.py::test_ingest_stores_only_ciphertext_and_read_identity_decrypts_every_field",
            "tests/test_privacy_crypto.py::test_a_lost_master_key_is_refused_and_never_replaced",
            "tests/test_privacy_erasure.py::test_after_a_key_rotation_a_backup_taken_before_the_erasure_is_unreadable_for_good",
            "tests/test_privacy_erasure.py::test_identity_columns_hold_binary_ciphertext_only",
            "tests/test_ingest.py::test_pseudonym_key_is_private_and_stable",
            "tests/test_compliance_pack.py::test_the_database_facts_pass_a_clean_database_and_fail_a_leftover",
        ),
        encryption,
    ),
    Requirement(
        "privacy.access_log",
        "privacy",
        "PIPL Art. 51, 54",
        "记录每次读取个人信息的人员、时间与目的",
        "Every read of personal data is logged: who, when, for what purpose",
        (
            "creditgraph.privacy.access_log:record_access",
            "creditgraph.privacy.access_log:accesses_of",
        ),
        (
            "tests/test_privacy_subject.py::test_the_export_holds_every_section_and_shows_who_read_the_data",
            "tests/test_privacy_subject.py::test_the_access_log_refuses_an_entry_that_does_not_say_who_or_why",
            "tests/test_privacy_crypto.py::test_a_feature_build_decrypts_incomes_once_and_logs_one_bulk_read",
        ),
    ),
    Requirement(
        "privacy.retention",
        "privacy",
        "PIPL Art. 19, 47",
        "保存期限为实现目的所必需的最短时间，到期删除",
        "Kept no longer than the purpose needs; purged when the period ends",
        (
            "creditgraph.privacy.retention:run",
            "creditgraph.privacy.retention:load_policy",
            "creditgraph.privacy.compaction:compact",
        ),
        (
            "tests/test_privacy_retention.py::test_retention_removes_loans_and_decisions_whole_and_keeps_what_a_hold_covers",
            "tests/test_privacy_retention.py::test_social_rows_past_their_period_leave_the_lake",
            "tests/test_privacy_compaction.py::test_compaction_removes_exactly_the_erased_and_revoked_rows_and_keeps_the_rest",
        ),
    ),
    Requirement(
        "privacy.no_personal_data_in_logs",
        "privacy",
        "PIPL Art. 51",
        "日志中不出现姓名、电话、证件号等个人信息",
        "No names, phones, id numbers or raw external ids in logs",
        ("creditgraph.privacy.pseudonym:Pseudonymiser",),
        ("tests/test_log_guard.py", "tests/test_quarantine_redaction.py"),
    ),
    Requirement(
        "privacy.impact_assessment",
        "privacy",
        "PIPL Art. 55-56",
        "自动化决策模型须完成个人信息保护影响评估，编号随模型版本登记",
        "Each model family has a personal information protection impact assessment, its id "
        "recorded with every model version",
        (
            "creditgraph.compliance.pack:CompliancePack.impact_assessment_of",
            "creditgraph.audit.kinds:kind_of",
        ),
        (
            "tests/test_audit_hooks.py::test_registration_promotion_and_retirement_are_each_committed",
            "tests/test_compliance_pack.py::test_every_model_family_has_an_impact_assessment",
        ),
        impact_assessments,
    ),
    Requirement(
        "privacy.data_residency",
        "privacy",
        "PIPL Art. 38-40",
        "个人信息境内存储，出境须经安全评估、认证或标准合同",
        "Personal information stays in the PRC; leaving it needs an assessment, certification "
        "or standard contract",
        ("creditgraph.audit.commitment:commit",),
        ("tests/test_audit_log.py::test_an_entry_carries_the_kind_and_commitment_only",),
        data_residency,
    ),
    Requirement(
        "fairness.four_fifths",
        "fairness",
        "fair lending: four-fifths rule; equal opportunity",
        "各群体审批通过率不低于最高群体的五分之四",
        "Each group's approval rate at least four fifths of the highest group's",
        (
            "creditgraph.compliance.fairness:assess",
            "creditgraph.compliance.fairness_store:monitor_fairness",
        ),
        (
            "tests/test_fairness.py::test_hand_computed_ratios_and_statuses",
            "tests/test_fairness.py::test_a_disparity_raises_one_alert_per_group_and_period",
        ),
    ),
)
