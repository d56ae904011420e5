"""The policy's data: rules, labels, keyword lists and the election calendar, parsed from TOML.

A policy file (``default_policy.toml`` is the shipped one)::

    version = 3                       # required, integer >= 1; bump on every change
    name = "..."                      # optional
    [self_declared]                   # optional: verdict for "uploader declared AI, no signal"
    verdict = "ai-generated"
    [labels.<id>]                     # kind (lower-case-words), ko, en; visible, prominent (bool)
    [[rules]]                         # id (unique), reason, when.*, then.*
    when.verdict = ["ai-generated"]   # any of the file verdicts; absent = any verdict
    when.realistic = true             # also declared_ai, election_related, in_election_window,
                                      # high_risk, needs_review; an unknown fact never matches
    then.labels = ["<label id>"]      # labels to show
    then.actions = ["label"]          # see Action
    then.visible = ["<label kind>"]   # labels of these kinds must be visible
    then.prominent = ["<label kind>"] # ... and shown more prominently
    [election_act]                    # window_days (default 90), keywords, candidates
    [election_act.keywords]           # a term list: ko, en, ko_ignore (see Terms)
    [high_risk_topics.<topic>]        # a term list per high-risk topic

A calendar file (``elections.toml``): ``version``, ``utc_offset`` (default "+09:00": election days
are Korean calendar days) and ``[[elections]]`` with id, name_ko, name_en, date, kind, and optional
verify and note. Problems raise :class:`SchemaError`; its message starts with the offending path.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NoReturn

from pyosi.policy.labels import FileVerdict


class SchemaError(ValueError):
    """A policy or calendar document that breaks the schema; the message starts with the path."""


class Action(StrEnum):
    LABEL = "label"
    REQUIRE_VISIBLE_LABEL = "require-visible-label"
    CHECK_AI_LABEL = "check-ai-label"
    REVIEW = "review"
    ESCALATE = "escalate"
    TAKEDOWN_CANDIDATE = "takedown-candidate"
    ELECTION_REPORT = "election-report"


AI_VERDICTS = frozenset({FileVerdict.AI_GENERATED, FileVerdict.AI_EDITED})
ELECTION_KINDS = ("presidential", "national-assembly", "local", "by-election")
#: Facts a rule's ``when`` may require to be true or false.
BOOL_FACTS = (
    "realistic",
    "declared_ai",
    "election_related",
    "in_election_window",
    "high_risk",
    "needs_review",
)
_KIND = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# ---- keyword matching ---------------------------------------------------------------------------


def _flatten(text: str) -> tuple[str, tuple[int, ...]]:
    """Letters, marks and digits only, case-folded, with the word each character came from.

    Korean spacing and particles vary ("국회의원 선거에", "국회의원선거"), so Korean terms are
    matched on this form; punctuation, symbols and whitespace all end a word.
    """
    chars: list[str] = []
    words: list[int] = []
    word, gap = 0, True
    for ch in unicodedata.normalize("NFKC", text).casefold():
        if unicodedata.category(ch)[0] in "PZCS":
            gap = True
            continue
        if gap:
            word, gap = word + 1, False
        chars.append(ch)
        words.append(word)
    return "".join(chars), tuple(words)


@functools.cache
def flat(term: str) -> str:
    return _flatten(term)[0]


@functools.cache
def _en_pattern(term: str) -> re.Pattern[str]:
    # ASCII word boundaries: "Election's" and "election에서" match "election", "selection" does not.
    # A trailing "*" takes any ending ("vaccin*": vaccine, vaccines, vaccination).
    words = [w for w in re.split(r"[\s\-]+", term.rstrip("*")) if w]
    body = r"[\s\-]*".join(re.escape(w) for w in words)
    tail = "[a-z0-9]*" if term.endswith("*") else ""
    return re.compile(rf"(?<![a-z0-9]){body}{tail}(?![a-z0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class Text:
    """A post's text, prepared once for every term list."""

    raw: str  # NFKC: full-width letters and decomposed Hangul (macOS) become ordinary text
    flat: str
    words: tuple[int, ...]

    @classmethod
    def of(cls, text: str | None) -> Text:
        raw = unicodedata.normalize("NFKC", text or "")
        return cls(raw, *_flatten(raw))

    def spans(self, needle: str) -> Iterable[tuple[int, int]]:
        start = self.flat.find(needle) if needle else -1
        while start != -1:
            yield start, start + len(needle)
            start = self.flat.find(needle, start + 1)

    def plausible(self, start: int, end: int) -> bool:
        # Inside one word (compounds, particles) anywhere; across words only from a word's start:
        # "홍 길동" is "홍길동", but "직선 거리" is not "선거".
        w = self.words
        return w[start] == w[end - 1] or start == 0 or w[start - 1] != w[start]


@dataclass(frozen=True)
class Terms:
    """Korean and English terms (keywords, candidate names) matched on a post's text.

    Korean (``ko``): substrings of the flattened text (see :func:`_flatten`), except inside a phrase
    of ``ko_ignore`` ("우승후보" is no election candidate). English (``en``): whole words, any case.
    """

    ko: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    ko_ignore: tuple[str, ...] = ()

    def find(self, text: Text) -> tuple[str, ...]:
        """The terms found in ``text``, as written in the list."""
        ignored = [s for phrase in self.ko_ignore for s in text.spans(flat(phrase))]
        found = [t for t in self.ko if self._has_ko(text, flat(t), ignored)]
        found += [t for t in self.en if _en_pattern(t).search(text.raw)]
        return tuple(found)

    @staticmethod
    def _has_ko(text: Text, needle: str, ignored: Sequence[tuple[int, int]]) -> bool:
        return any(
            text.plausible(start, end) and not any(a <= start and end <= b for a, b in ignored)
            for start, end in text.spans(needle)
        )


# ---- the calendar --------------------------------------------------------------------------------

#: Korea Standard Time. Election days and ban windows are Korean calendar days; so are the
#: service's reports, dashboard and the times its UI shows.
KST = dt.timezone(dt.timedelta(hours=9))


def kst_today(now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.UTC)).astimezone(KST).date()


def kst_day_start(day: dt.date) -> dt.datetime:
    """The moment (in UTC) the Korean calendar day ``day`` begins."""
    return dt.datetime.combine(day, dt.time(), KST).astimezone(dt.UTC)


@dataclass(frozen=True)
class Election:
    id: str
    name_ko: str
    name_en: str
    date: dt.date
    kind: str
    #: The date rests on one weak source or is computed: check it before relying on it.
    verify: bool = False
    note: str = ""
    utc_offset: dt.timedelta = dt.timedelta(hours=9)  # KST

    def window(self, days: int = 90) -> tuple[dt.date, dt.date]:
        """First and last day of the Art. 82-8 ban: D-``days`` through election day, inclusive."""
        return self.date - dt.timedelta(days=days), self.date

    def local_date(self, when: dt.datetime) -> dt.date:
        """The calendar day at the election's place when it is ``when`` (timezone-aware)."""
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("a timezone-aware datetime is needed (the window is in local days)")
        return when.astimezone(dt.timezone(self.utc_offset)).date()

    def in_window(self, when: dt.date | dt.datetime, days: int = 90) -> bool:
        day = self.local_date(when) if isinstance(when, dt.datetime) else when
        start, end = self.window(days)
        return start <= day <= end


# ---- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSpec:
    id: str
    kind: str
    ko: str
    en: str
    visible: bool = False
    prominent: bool = False


@dataclass(frozen=True)
class Facts:
    """What rules test: the file's verdict and what is known about the upload."""

    verdict: FileVerdict
    realistic: bool | None  # None: unknown, matches neither true nor false
    declared_ai: bool | None
    election_related: bool
    in_election_window: bool
    high_risk: bool
    needs_review: bool


@dataclass(frozen=True)
class Rule:
    id: str
    reason: str
    verdicts: frozenset[FileVerdict] | None = None  # None: any verdict
    conditions: tuple[tuple[str, bool], ...] = ()  # (fact, required value)
    labels: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    visible: tuple[str, ...] = ()  # label kinds
    prominent: tuple[str, ...] = ()

    def matches(self, facts: Facts) -> bool:
        if self.verdicts is not None and facts.verdict not in self.verdicts:
            return False
        return all(getattr(facts, name) is value for name, value in self.conditions)


@dataclass(frozen=True)
class PolicySpec:
    version: int
    name: str
    labels: Mapping[str, LabelSpec]
    rules: tuple[Rule, ...]
    window_days: int
    election_keywords: Terms
    candidates: Terms
    topics: Mapping[str, Terms]
    self_declared_verdict: FileVerdict


# ---- parsing -------------------------------------------------------------------------------------

_POLICY_KEYS = (
    "version",
    "name",
    "self_declared",
    "labels",
    "rules",
    "election_act",
    "high_risk_topics",
)
_RULE_KEYS = ("id", "reason", "when", "then")
_THEN_KEYS = ("labels", "actions", "visible", "prominent")
_ELECTION_KEYS = ("id", "name_ko", "name_en", "date", "kind", "verify", "note")


def parse_policy(doc: Mapping[str, Any]) -> PolicySpec:
    if "version" not in doc:
        _fail("version", "missing (every policy carries a version number, e.g. version = 1)")
    version = _int(doc["version"], "version", 1, 2**31)
    _keys(doc, "", _POLICY_KEYS, required=("rules",))
    labels = _labels(doc.get("labels", {}))
    act = _table(doc.get("election_act", {}), "election_act")
    _keys(act, "election_act", ("window_days", "keywords", "candidates"))
    declared = _table(doc.get("self_declared", {}), "self_declared")
    _keys(declared, "self_declared", ("verdict",))
    topics = _table(doc.get("high_risk_topics", {}), "high_risk_topics")
    ai = sorted(v.value for v in AI_VERDICTS)
    return PolicySpec(
        version=version,
        name=_str(doc.get("name", "unnamed policy"), "name"),
        labels=labels,
        rules=_rules(doc["rules"], labels),
        window_days=_int(act.get("window_days", 90), "election_act.window_days", 1, 366),
        election_keywords=_terms(act.get("keywords", {}), "election_act.keywords"),
        candidates=_terms(act.get("candidates", {}), "election_act.candidates"),
        topics={k: _terms(v, f"high_risk_topics.{k}") for k, v in topics.items()},
        self_declared_verdict=FileVerdict(
            _one_of(declared.get("verdict", "ai-generated"), "self_declared.verdict", ai)
        ),
    )


def parse_elections(doc: Mapping[str, Any]) -> tuple[Election, ...]:
    if "version" not in doc:
        _fail("version", "missing (every calendar carries a version number, e.g. version = 1)")
    _keys(doc, "", ("version", "utc_offset", "elections"), required=("elections",))
    _int(doc["version"], "version", 1, 2**31)
    offset = _offset(doc.get("utc_offset", "+09:00"), "utc_offset")
    items = _array_of_tables(doc["elections"], "elections")
    out = [_election(t, f"elections[{i}]", offset) for i, t in enumerate(items)]
    _unique([e.id for e in out], "elections")
    return tuple(sorted(out, key=lambda e: e.date))


def _election(t: Mapping[str, Any], path: str, offset: dt.timedelta) -> Election:
    _keys(t, path, _ELECTION_KEYS, required=_ELECTION_KEYS[:5])
    return Election(
        id=_str(t["id"], f"{path}.id"),
        name_ko=_str(t["name_ko"], f"{path}.name_ko"),
        name_en=_str(t["name_en"], f"{path}.name_en"),
        date=_date(t["date"], f"{path}.date"),
        kind=_one_of(t["kind"], f"{path}.kind", ELECTION_KINDS),
        verify=_bool(t.get("verify", False), f"{path}.verify"),
        note=_str(t["note"], f"{path}.note") if "note" in t else "",
        utc_offset=offset,
    )


def _labels(value: Any) -> dict[str, LabelSpec]:
    out: dict[str, LabelSpec] = {}
    for lid, raw in _table(value, "labels").items():
        path = f"labels.{lid}"
        t = _table(raw, path)
        _keys(t, path, ("kind", "ko", "en", "visible", "prominent"), required=("kind", "ko", "en"))
        kind = _str(t["kind"], f"{path}.kind")
        if not _KIND.fullmatch(kind):
            _fail(f"{path}.kind", f"{kind!r} is not lower-case words joined by '-'")
        out[lid] = LabelSpec(
            id=lid,
            kind=kind,
            ko=_str(t["ko"], f"{path}.ko"),
            en=_str(t["en"], f"{path}.en"),
            visible=_bool(t.get("visible", False), f"{path}.visible"),
            prominent=_bool(t.get("prominent", False), f"{path}.prominent"),
        )
    return out


def _rules(value: Any, labels: Mapping[str, LabelSpec]) -> tuple[Rule, ...]:
    rules = tuple(
        _rule(t, f"rules[{i}]", labels) for i, t in enumerate(_array_of_tables(value, "rules"))
    )
    _unique([r.id for r in rules], "rules")
    return rules


def _rule(t: Mapping[str, Any], path: str, labels: Mapping[str, LabelSpec]) -> Rule:
    _keys(t, path, _RULE_KEYS, required=("id", "reason"))
    when = _table(t.get("when", {}), f"{path}.when")
    _keys(when, f"{path}.when", ("verdict", *BOOL_FACTS))
    then = _table(t.get("then", {}), f"{path}.then")
    _keys(then, f"{path}.then", _THEN_KEYS)
    kinds = sorted({spec.kind for spec in labels.values()})
    verdicts = None
    if "verdict" in when:
        names = _choices(when["verdict"], f"{path}.when.verdict", [v.value for v in FileVerdict])
        if not names:
            _fail(f"{path}.when.verdict", "empty: name at least one verdict, or leave it out")
        verdicts = frozenset(FileVerdict(v) for v in names)
    return Rule(
        id=_str(t["id"], f"{path}.id"),
        reason=_str(t["reason"], f"{path}.reason"),
        verdicts=verdicts,
        conditions=tuple((k, _bool(when[k], f"{path}.when.{k}")) for k in BOOL_FACTS if k in when),
        labels=_choices(then.get("labels", []), f"{path}.then.labels", list(labels), "label id"),
        actions=tuple(
            Action(a)
            for a in _choices(then.get("actions", []), f"{path}.then.actions", list(Action))
        ),
        visible=_choices(then.get("visible", []), f"{path}.then.visible", kinds, "label kind"),
        prominent=_choices(
            then.get("prominent", []), f"{path}.then.prominent", kinds, "label kind"
        ),
    )


def _terms(value: Any, path: str) -> Terms:
    t = _table(value, path)
    _keys(t, path, ("ko", "en", "ko_ignore"))
    ko = _str_list(t.get("ko", []), f"{path}.ko")
    en = _str_list(t.get("en", []), f"{path}.en")
    ignore = _str_list(t.get("ko_ignore", []), f"{path}.ko_ignore")
    for name, terms in (("ko", ko), ("ko_ignore", ignore)):
        for i, term in enumerate(terms):
            if not flat(term):
                _fail(f"{path}.{name}[{i}]", f"{term!r} has no letters or digits")
    for i, term in enumerate(en):
        if "*" in term.rstrip("*") or term.endswith("**") or not any(c.isalnum() for c in term):
            _fail(f"{path}.en[{i}]", f"{term!r}: letters or digits, with at most one trailing '*'")
    return Terms(ko=ko, en=en, ko_ignore=ignore)


# ---- typed getters: each names the path of what it rejects ---------------------------------------


def _fail(path: str, problem: str) -> NoReturn:
    raise SchemaError(f"{path}: {problem}")


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _what(v: Any) -> str:
    if isinstance(v, bool):
        return f"boolean {str(v).lower()}"
    if isinstance(v, int | float):
        return f"number {v}"
    if isinstance(v, str):
        return f"string {v!r}"
    if isinstance(v, dt.datetime | dt.time):
        return f"date-time {v.isoformat()}"
    if isinstance(v, dt.date):
        return f"date {v.isoformat()}"
    return "an array" if isinstance(v, list) else "a table" if isinstance(v, dict) else "?"


def _keys(
    t: Mapping[str, Any], path: str, allowed: Sequence[str], required: Sequence[str] = ()
) -> None:
    for key in t:
        if key not in allowed:
            _fail(_at(path, key), f"unknown key (expected one of {', '.join(allowed)})")
    for key in required:
        if key not in t:
            _fail(_at(path, key), "missing")


def _table(v: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        _fail(path, f"expected a table, got {_what(v)}")
    return v


def _array_of_tables(v: Any, path: str) -> list[Mapping[str, Any]]:
    if not isinstance(v, list):
        _fail(path, f"expected an array of tables ([[{path}]]), got {_what(v)}")
    return [_table(item, f"{path}[{i}]") for i, item in enumerate(v)]


def _str(v: Any, path: str) -> str:
    if not isinstance(v, str):
        _fail(path, f"expected a string, got {_what(v)}")
    if not v.strip():
        _fail(path, "empty")
    return v


def _bool(v: Any, path: str) -> bool:
    if not isinstance(v, bool):
        _fail(path, f"expected true or false, got {_what(v)}")
    return v


def _int(v: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        _fail(path, f"expected an integer, got {_what(v)}")
    if not lo <= v <= hi:
        _fail(path, f"{v} is out of range ({lo}..{hi})")
    return v


def _str_list(v: Any, path: str) -> tuple[str, ...]:
    if not isinstance(v, list):
        _fail(path, f"expected an array of strings, got {_what(v)}")
    return tuple(_str(item, f"{path}[{i}]") for i, item in enumerate(v))


def _one_of(v: Any, path: str, allowed: Sequence[str], what: str = "value") -> str:
    s = _str(v, path)
    if s not in allowed:
        _fail(path, f"unknown {what} {s!r} (expected one of {', '.join(allowed) or 'nothing'})")
    return s


def _choices(v: Any, path: str, allowed: Sequence[str], what: str = "value") -> tuple[str, ...]:
    """One name or an array of names, each from ``allowed``."""
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, list):
        _fail(path, f"expected a string or an array of strings, got {_what(v)}")
    return tuple(dict.fromkeys(_one_of(item, path, allowed, what) for item in items))


def _unique(ids: Sequence[str], path: str) -> None:
    seen: dict[str, int] = {}
    for i, key in enumerate(ids):
        if key in seen:
            _fail(f"{path}[{i}].id", f"duplicate id {key!r} (also {path}[{seen[key]}])")
        seen[key] = i


def _date(v: Any, path: str) -> dt.date:
    if isinstance(v, str) and _ISO_DATE.fullmatch(v):
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            _fail(path, f"{v!r} is not a valid date")
    if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
        return v
    _fail(path, f"expected a date (YYYY-MM-DD), got {_what(v)}")


def _offset(v: Any, path: str) -> dt.timedelta:
    m = _OFFSET.fullmatch(_str(v, path))
    if m is None or int(m[2]) > 14 or int(m[3]) > 59:
        _fail(path, f"expected an offset from UTC like '+09:00', got {v!r}")
    delta = dt.timedelta(hours=int(m[2]), minutes=int(m[3]))
    return -delta if m[1] == "-" else delta
