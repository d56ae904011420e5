"""The policy engine: a file's signals plus what is known about the upload → labels and actions.

    from pyosi.policy.engine import PolicyContext, load_policy
    outcome = load_policy().evaluate(result.signals, PolicyContext(post_text="…", realistic=True))
    outcome.verdict, outcome.labels, outcome.actions, outcome.reasons

The rules are data, never code: the shipped ``default_policy.toml`` and election calendar
``elections.toml`` (schema in :mod:`pyosi.policy.rules`), so the law's wording and dates can be
corrected without a release. The shipped rules cover Korea's AI Basic Act Art. 31 (visible labels
for realistic deepfakes), the Public Official Election Act Art. 82-8 (D-90 through election day),
EU AI Act Art. 50 labels (more prominent for high-risk topics) and self-declared AI use.
"""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from importlib import resources
from typing import Any, Literal, TypeVar

from pyosi.errors import PyosiError
from pyosi.policy.labels import Decision, FileVerdict, decide
from pyosi.policy.rules import (
    AI_VERDICTS,
    Action,
    Election,
    Facts,
    LabelSpec,
    PolicySpec,
    Rule,
    SchemaError,
    Text,
    parse_elections,
    parse_policy,
)
from pyosi.signals.base import Signal

__all__ = [
    "Action",
    "Election",
    "ElectionEvidence",
    "ElectionStatus",
    "Label",
    "Policy",
    "PolicyContext",
    "PolicyError",
    "PolicyOutcome",
    "load_elections",
    "load_policy",
]

Language = Literal["ko", "en"]
SELF_DECLARED = "self-declared"
_T = TypeVar("_T")


class PolicyError(PyosiError):
    """A policy or election calendar that cannot be used: not TOML, or breaking the schema."""

    exit_code = 2


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PolicyContext:
    """What is known about an upload besides the file."""

    post_text: str | None = None
    uploader_id: str | None = None
    declared_ai: bool | None = None  # the uploader says AI was used; None: not asked
    election_related: bool | None = None  # the uploader's flag
    language: Language = "ko"
    now: dt.datetime = field(default_factory=_utc_now)
    realistic: bool | None = None  # a photorealistic person or scene; None: unknown

    def __post_init__(self) -> None:
        if self.language not in ("ko", "en"):
            raise ValueError(f"language must be 'ko' or 'en', not {self.language!r}")
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            raise ValueError("now must be timezone-aware (election windows are local days)")


@dataclass(frozen=True)
class Label:
    """One label to show, with what it rests on (keys of labels.toml's [basis])."""

    id: str
    kind: str  # e.g. "korea-ai-basic-act", "eu-art50", "election"
    ko: str
    en: str
    visible_required: bool  # invisible marks alone do not satisfy it
    prominent: bool
    rests_on: tuple[str, ...]

    def text(self, language: Language) -> str:
        return self.ko if language == "ko" else self.en

    def to_json(self) -> dict[str, Any]:
        return _json_object(self)


@dataclass(frozen=True)
class ElectionStatus:
    """The election that matters on a given day, and whether that day is inside its ban."""

    election: Election
    in_window: bool
    window: tuple[dt.date, dt.date]  # first and last day of the ban, inclusive
    days_until: int  # 0 on election day

    def to_json(self) -> dict[str, Any]:
        return _json_object(self)


@dataclass(frozen=True)
class ElectionEvidence:
    """Why a post counts as election-related (empty: it does not)."""

    flagged: bool  # the uploader said so
    keywords: tuple[str, ...] = ()
    candidates: tuple[str, ...] = ()

    @property
    def related(self) -> bool:
        return self.flagged or bool(self.keywords or self.candidates)

    def describe(self) -> str:
        parts = ["the uploader's flag"] if self.flagged else []
        if self.keywords:
            parts.append("keywords " + ", ".join(map(repr, self.keywords)))
        if self.candidates:
            parts.append("candidates " + ", ".join(map(repr, self.candidates)))
        return "; ".join(parts)


@dataclass(frozen=True)
class PolicyOutcome:
    verdict: FileVerdict
    labels: tuple[Label, ...]
    actions: tuple[Action, ...]
    election: ElectionStatus | None  # None: no election ahead in the calendar
    election_related: bool
    election_evidence: ElectionEvidence
    topics: tuple[str, ...]  # high-risk topics found in the post text
    needs_review: bool
    policy_version: int
    rules: tuple[str, ...]  # ids of the rules that applied
    reasons: tuple[str, ...]
    language: Language

    def to_json(self) -> dict[str, Any]:
        return _json_object(self)


@dataclass(frozen=True)
class _Basis:
    """The verdict the rules see, what its labels rest on, and why."""

    verdict: FileVerdict
    rests_on: tuple[str, ...]
    needs_review: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    spec: PolicySpec
    elections: tuple[Election, ...] = ()

    @property
    def version(self) -> int:
        return self.spec.version

    def with_elections(self, elections: Iterable[Election]) -> Policy:
        """The same rules over another calendar (the service edits the calendar separately)."""
        return Policy(self.spec, tuple(sorted(elections, key=lambda e: e.date)))

    def election_status(self, now: dt.datetime) -> ElectionStatus | None:
        """The earliest election whose ban covers ``now``, else the next one; None after all."""
        days = self.spec.window_days
        ahead = [e for e in self.elections if e.local_date(now) <= e.date]
        if not ahead:
            return None
        current = [e for e in ahead if e.in_window(now, days)]
        e = min(current or ahead, key=lambda e: e.date)
        return ElectionStatus(e, bool(current), e.window(days), (e.date - e.local_date(now)).days)

    def evaluate(
        self, signals_or_decision: Iterable[Signal] | Decision, context: PolicyContext
    ) -> PolicyOutcome:
        """Labels, actions and reasons for one file (its signals or its decision) and upload."""
        if isinstance(signals_or_decision, Decision):
            decision = signals_or_decision
        else:
            decision = decide(signals_or_decision)
        basis = _basis(decision, context, self.spec.self_declared_verdict)
        evidence, topics = self._read_post(context)
        status = self.election_status(context.now)
        facts = Facts(
            verdict=basis.verdict,
            realistic=context.realistic,
            declared_ai=context.declared_ai,
            election_related=evidence.related,
            in_election_window=status is not None and status.in_window,
            high_risk=bool(topics),
            needs_review=basis.needs_review,
        )
        matched = [r for r in self.spec.rules if r.matches(facts)]
        return PolicyOutcome(
            verdict=basis.verdict,
            labels=_labels(matched, self.spec.labels, basis.rests_on),
            actions=tuple(a for a in Action if any(a in r.actions for r in matched)),
            election=status,
            election_related=evidence.related,
            election_evidence=evidence,
            topics=tuple(topics),
            needs_review=basis.needs_review,
            policy_version=self.spec.version,
            rules=tuple(r.id for r in matched),
            reasons=(
                *basis.reasons,
                *_context_reasons(evidence, status, topics),
                *(f"{r.id}: {r.reason}" for r in matched),
            ),
            language=context.language,
        )

    def _read_post(
        self, context: PolicyContext
    ) -> tuple[ElectionEvidence, dict[str, tuple[str, ...]]]:
        """Why the post is election-related, and the high-risk topics (with terms) it touches."""
        text = Text.of(context.post_text)
        evidence = ElectionEvidence(
            flagged=context.election_related is True,
            keywords=self.spec.election_keywords.find(text),
            candidates=self.spec.candidates.find(text),
        )
        found = {name: terms.find(text) for name, terms in self.spec.topics.items()}
        return evidence, {name: terms for name, terms in found.items() if terms}


def _basis(decision: Decision, context: PolicyContext, declared_verdict: FileVerdict) -> _Basis:
    rests_on = decision.label.rests_on if decision.label else ()
    verdict = decision.verdict
    if verdict in AI_VERDICTS:
        why = f"signals say {verdict.value} (resting on {', '.join(rests_on)})"
        if context.declared_ai:
            return _Basis(
                verdict,
                (*rests_on, SELF_DECLARED),
                decision.needs_review,
                (why, "the uploader also declared AI use"),
            )
        if context.declared_ai is False:
            why += "; the uploader declared no AI use"
        return _Basis(verdict, rests_on, decision.needs_review, (why,))
    if context.declared_ai:
        # A declaration against the uploader's interest is believed; against signed capture
        # credentials it is a contradiction a person should look at.
        conflict = verdict is FileVerdict.CAPTURED
        why = f"the uploader declared AI use; labelled {declared_verdict.value} on that alone"
        if conflict:
            why += " although signed credentials say captured with a camera: needs review"
        return _Basis(declared_verdict, (SELF_DECLARED,), decision.needs_review or conflict, (why,))
    if verdict is FileVerdict.CAPTURED:
        why = f"signed credentials say captured with a camera (resting on {', '.join(rests_on)})"
    else:
        why = "no AI signal found (the absence of a signal never proves a file is real)"
    return _Basis(verdict, rests_on, decision.needs_review, (why,))


def _context_reasons(
    evidence: ElectionEvidence,
    status: ElectionStatus | None,
    topics: Mapping[str, tuple[str, ...]],
) -> list[str]:
    reasons = []
    if evidence.related:
        reasons.append(f"election-related: {evidence.describe()}")
        reasons.append(_window_reason(status))
    for name, found in topics.items():
        reasons.append(f"high-risk topic {name!r}: " + ", ".join(map(repr, found)))
    return reasons


def _window_reason(status: ElectionStatus | None) -> str:
    if status is None:
        return "no election ahead in the calendar"
    e, (start, end) = status.election, status.window
    unverified = " (date marked to verify)" if e.verify else ""
    if status.in_window:
        return (
            f"inside the Election Act Art. 82-8 ban for {e.name_en} on {e.date}{unverified}: "
            f"{start} through {end}, D-{status.days_until}"
        )
    return f"before the ban for {e.name_en} on {e.date}{unverified}, which starts {start}"


def _labels(
    rules: Iterable[Rule], specs: Mapping[str, LabelSpec], rests_on: tuple[str, ...]
) -> tuple[Label, ...]:
    rules = list(rules)
    visible = {kind for r in rules for kind in r.visible}
    prominent = {kind for r in rules for kind in r.prominent}
    ids = dict.fromkeys(lid for r in rules for lid in r.labels)
    return tuple(
        Label(
            id=s.id,
            kind=s.kind,
            ko=s.ko,
            en=s.en,
            visible_required=s.visible or s.kind in visible,
            prominent=s.prominent or s.kind in prominent,
            rests_on=rests_on,
        )
        for s in (specs[lid] for lid in ids)
    )


def load_policy(text: str | None = None, *, elections: Iterable[Election] | None = None) -> Policy:
    """The policy in ``text`` (TOML; None: the shipped default) over ``elections`` (None: the
    shipped calendar). Raises :class:`PolicyError` naming the path of the first problem."""
    spec = _parse(text, "default_policy.toml", "policy", parse_policy)
    calendar = load_elections() if elections is None else elections
    return Policy(spec).with_elections(calendar)


def load_elections(text: str | None = None) -> list[Election]:
    """The election calendar in ``text`` (TOML; None: the shipped one), sorted by date."""
    return list(_parse(text, "elections.toml", "election calendar", parse_elections))


def _json_object(obj: Any) -> dict[str, Any]:
    return {f.name: _json(getattr(obj, f.name)) for f in fields(obj)}


def _json(v: Any) -> Any:
    """Dataclasses, enums, dates, UTC offsets and tuples as JSON values."""
    if is_dataclass(v) and not isinstance(v, type):
        return _json_object(v)
    if isinstance(v, tuple | list):
        return [_json(x) for x in v]
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.timedelta):  # an election's UTC offset, as written in the calendar
        sign, minutes = "-" if v < dt.timedelta() else "+", abs(int(v.total_seconds())) // 60
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return v.value if isinstance(v, Enum) else v


@functools.cache
def _shipped(name: str) -> str:
    return resources.files("pyosi.policy").joinpath(name).read_text(encoding="utf-8")


def _parse(
    text: str | None, shipped: str, what: str, parse: Callable[[Mapping[str, Any]], _T]
) -> _T:
    try:
        doc = tomllib.loads(_shipped(shipped) if text is None else text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"invalid {what}: not valid TOML: {e}") from None
    try:
        return parse(doc)
    except SchemaError as e:
        raise PolicyError(f"invalid {what}: {e}") from None
