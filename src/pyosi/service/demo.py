"""Demo data for ``pyosi serve --demo`` (what ``make run`` starts): the whole flow at a glance.

Prepares the data directory's database, signing identity and key, an ``admin`` login with a fresh
password, and — once — a handful of items made the way real tools make them: a pyosi-marked
image, a marked copy stripped of its metadata (credentials come back through the watermark), a
C2PA camera capture, a Stable Diffusion WebUI output, a file with only IPTC metadata, a plain
photo, a self-declared one, and an election case inside the Art. 82-8 window of a demo election
added to the calendar for the purpose. Everything goes through the same library functions as
the API (:func:`pyosi.service.items.create_item`).
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from pyosi.keyring import default_key, keys_dir
from pyosi.paths import subdir
from pyosi.policy.rules import kst_today
from pyosi.provenance.identity import Identity, init_development
from pyosi.service.app import Service
from pyosi.service.auth import AuthError, Role, add_user, set_password
from pyosi.service.items import UploadContext, create_item
from pyosi.service.policies import list_elections, save_election
from pyosi.storage import Database, reading
from pyosi.storage.schema import items

ADMIN = "admin"
DEMO_ELECTION = "demo-by-election"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    items_added: int


#: (sample kind, file name, post text, uploader, other context)
_SAMPLES: tuple[tuple[str, str, str, str, dict[str, object]], ...] = (
    ("marked", "generated-marked.jpg", "새로 만든 일러스트", "artist-01", {}),
    ("stripped", "reposted-screenshot.jpg", "found this online", "user-17", {"language": "en"}),
    ("c2pa-camera", "camera-capture.jpg", "오늘 아침 한강", "photo-desk", {}),
    ("a1111", "webui-render.jpg", "lighthouse render", "user-42", {"language": "en"}),
    ("xmp", "stock-ai.jpg", "stock image", "agency-3", {"language": "en"}),
    ("plain", "holiday.jpg", "가족 여행 사진", "user-8", {}),
    ("plain", "declared.jpg", "AI로 만든 배경 화면", "user-9", {"declared_ai": True}),
    (
        "marked",
        "candidate-rally.jpg",
        "후보 유세 현장 사진 #보궐선거 투표 독려",
        "acct-991",
        {"election_related": True, "realistic": True},
    ),
)


def prepare(db: Database) -> DemoLogin:
    """Migrate, make identity, key and admin login; returns the login (password is new)."""
    db.upgrade()
    identity_dir = subdir("identity")
    if not (identity_dir / "signer-chain.pem").exists():
        init_development(subdir("identity", create=True), organisation="pyosi demo")
    default_key()
    password = secrets.token_urlsafe(12)
    try:
        add_user(db.engine, ADMIN, password, Role.ADMIN, actor="demo")
    except AuthError:
        set_password(db.engine, ADMIN, password, actor="demo")
    return DemoLogin(ADMIN, password, 0)


def load_samples(service: Service) -> int:
    """Add the sample items unless the database already holds items; returns how many."""
    engine = service.db.engine
    with reading(engine) as conn:
        if conn.execute(select(func.count()).select_from(items)).scalar_one():
            return 0
    _demo_election(service)
    from pyosi.bench.samples import sample_images
    from pyosi.bench.scan import make_sample, sample_variant

    photos = sample_images()
    rng = np.random.default_rng(7)
    key, _ = default_key()
    identity = Identity.load()
    keys_dir(create=True)
    added = 0
    for i, (kind, name, text, uploader, extra) in enumerate(_SAMPLES):
        pixels = sample_variant(photos[i % len(photos)].pixels, rng)
        data = make_sample(
            kind, Image.fromarray(pixels), name, key=key, identity=identity,
            store=service.store, rng=rng,
        )  # fmt: skip
        ctx = UploadContext.from_json(
            {"post_text": text, "uploader_id": uploader, "filename": name, **extra}
        )
        create_item(engine, service.blobs, data, ctx, service.scan)
        added += 1
    return added


def _demo_election(service: Service) -> None:
    """A by-election 30 days from now, so the election case falls inside its ban window."""
    if any(e.election.id == DEMO_ELECTION for e in list_elections(service.db.engine)):
        return
    day = kst_today() + dt.timedelta(days=30)
    save_election(
        service.db.engine,
        {
            "slug": DEMO_ELECTION,
            "date": day,
            "name_ko": "데모 보궐선거",
            "name_en": "Demo by-election",
            "kind": "by-election",
            "note": "Added by `pyosi serve --demo`; delete it for real use.",
        },
        actor="demo",
    )
