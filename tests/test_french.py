"""Everything a person reads is French: the pages of every desk and the refusals the pages show.

The code says its messages in English (msgids) and the French catalogue says them to people.
Three nets catch an English sentence on its way out:

- the catalogue: every message the code wraps in gettext has a French translation (not fuzzy,
  not empty, same placeholders), and no English sentence is raised to a user unwrapped (read
  from the source);
- the pages, fetched as each role by a browser that asks for English (``Accept-Language: en``):
  no English msgid and no English sentence in what they show;
- refused calls, at least one per family of the API: the ``detail`` is French, never a msgid.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from partners.choices import AgencyKind
from tests import factories
from tests.factories import CENTRE

ROOT = Path(settings.BASE_DIR)
CATALOGUE = ROOT / "locale" / "fr" / "LC_MESSAGES" / "django.po"
APPS = ("cameras", "config", "geo", "incidents", "partners", "realtime", "streaming")
ENGLISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
POINT = {"type": "Point", "coordinates": [CENTRE.x, CENTRE.y]}

# Words of English that French does not use: two of them in one sentence make it English.
ENGLISH_WORDS = frozenset("""
    the is are was were be been cannot can't must should would will does doesn't don't did not
    this these those that with of to for from at by and only already which what when where who
    why your you it its has have than there no such unknown required invalid please try again
    allowed found missing shared reserved expected number""".split())
# A French message has an accent or one of these words; codes and numbers alone have neither.
FRENCH = re.compile(r"[àâçéèêëîïôûùœ]|\b(le|la|les|un|une|de|des|du|ce|cet|cette|est|pas|au|aux|votre|"
                    r"vos|et|ou|en|sur|pour|dans|ne|aucun|aucune|inconnu|inconnue|inconnus|inconnues)\b|"
                    r"\b[dlnj]'", re.I)
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\w*\}")


# --- The catalogue ---------------------------------------------------------------------------


def catalogue_entries() -> list[dict]:
    """The entries of the French catalogue: msgid, msgid_plural, msgstr (list), flags."""
    entries, entry, key = [], None, None
    for line in CATALOGUE.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry is not None:
                entries.append(entry)
            entry, key = None, None
            continue
        if entry is None:
            entry = {"msgid": "", "msgid_plural": None, "msgstr": {}, "flags": set()}
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(entry, key, json.loads(line))
        else:
            keyword, _, rest = line.partition(" ")
            key = keyword
            _append(entry, key, json.loads(rest), start=True)
    return [e for e in entries if e["msgid"]]


def _append(entry: dict, key: str, text: str, start: bool = False) -> None:
    match = re.fullmatch(r"msgstr\[(\d)\]|msgstr", key)
    if match:
        index = int(match.group(1) or 0)
        entry["msgstr"][index] = ("" if start else entry["msgstr"].get(index, "")) + text
    else:
        entry[key] = ("" if start else entry[key] or "") + text


def english(text: str) -> bool:
    """A sentence of two English words or more (placeholders aside)."""
    words = re.findall(r"[a-z']+", PLACEHOLDER.sub(" ", text).lower())
    return len(words) >= 3 and len(ENGLISH_WORDS.intersection(words)) >= 2


GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy"}


def _source_files():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def wrapped_messages() -> dict[str, str]:
    """Every string the code passes to gettext (singular and plural), with where it is."""
    found: dict[str, str] = {}
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node.func) in GETTEXT:
                args = node.args[1:] if _name(node.func).startswith("pgettext") else node.args
                for arg in args[:2] if "ngettext" in _name(node.func) else args[:1]:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def test_the_catalogue_has_no_fuzzy_empty_or_mismatched_entry():
    bad = []
    for entry in catalogue_entries():
        strings = list(entry["msgstr"].values())
        if "fuzzy" in entry["flags"] or not strings or not all(s.strip() for s in strings):
            bad.append(("fuzzy or empty", entry["msgid"]))
            continue
        wanted = sorted(set(PLACEHOLDER.findall(entry["msgid"] + (entry["msgid_plural"] or ""))))
        for said in strings:
            if sorted(set(PLACEHOLDER.findall(said))) != wanted:
                bad.append(("placeholders differ", entry["msgid"]))
        if entry["msgid_plural"] is not None and len(strings) != 2:
            bad.append(("a plural needs two forms (n = 1, n > 1)", entry["msgid"]))
    assert not bad, bad


def test_every_english_message_in_the_code_has_its_french_translation():
    translated = {e["msgid"] for e in catalogue_entries()} | {
        e["msgid_plural"] for e in catalogue_entries() if e["msgid_plural"]}
    missing = {text: where for text, where in wrapped_messages().items()
               if text not in translated and english(text)}
    assert not missing, missing


# Exceptions whose message reaches a page or an API body; ValueError, CommandError and the like
# speak to developers and operators of the machine, in English.
USER_FACING = {"DomainError", "NotAllowed", "Conflict", "ValidationError", "PermissionDenied",
               "Http404", "NotFound", "AuthenticationFailed", "ParseError"}


# Raised only to a management command (``import_communes``), whose operator reads English.
COMMAND_ONLY = {"CommuneImportError"}


def _user_facing_exceptions() -> set[str]:
    """The domain's exceptions: every class that derives, within the apps, from DomainError."""
    names, parents = set(USER_FACING), {}
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                parents[node.name] = {_name(base) for base in node.bases}
    grew = True
    while grew:
        grew = False
        for name, bases in parents.items():
            if name not in names | COMMAND_ONLY and bases & names:
                names.add(name)
                grew = True
    return names


def _unwrapped(node: ast.AST) -> list[str]:
    """English literals under ``node`` that no gettext call wraps."""
    wrapped = {id(c) for call in ast.walk(node) if isinstance(call, ast.Call) and _name(call.func) in GETTEXT
               for c in ast.walk(call)}
    found = []
    for child in ast.walk(node):
        if id(child) in wrapped:
            continue
        if isinstance(child, ast.Constant) and isinstance(child.value, str) and english(child.value):
            found.append(child.value)
        elif isinstance(child, ast.JoinedStr):
            text = "".join(v.value for v in child.values if isinstance(v, ast.Constant))
            if english(text):
                found.append(text)
    return found


def unwrapped_user_messages() -> list[str]:
    """``raise SomeDomainError("English …")``, ``message = "English …"`` on a permission and
    ``Response({"detail": "English …"})``: English that would reach a person untranslated."""
    exceptions = _user_facing_exceptions()
    found = []
    for path in _source_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[ast.AST] = []
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) \
                    and _name(node.exc.func) in exceptions:
                targets = [*node.exc.args, *(k.value for k in node.exc.keywords)]
            elif isinstance(node, ast.ClassDef) and any("Permission" in _name(b) for b in node.bases):
                targets = [s.value for s in node.body if isinstance(s, ast.Assign)
                           and any(getattr(t, "id", "") == "message" for t in s.targets)]
            elif isinstance(node, ast.Dict):
                targets = [v for k, v in zip(node.keys, node.values, strict=True)
                           if isinstance(k, ast.Constant) and k.value == "detail"]
            for target in targets:
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: {text}" for text in _unwrapped(target)]
    return found


def test_no_english_sentence_is_raised_to_a_user_without_gettext():
    assert unwrapped_user_messages() == []


def test_the_english_detector_tells_the_catalogue_s_two_languages_apart():
    """The nets above are only as good as ``english``: it flags the code's English messages and
    none of their French translations."""
    entries = catalogue_entries()
    long_ids = [e["msgid"] for e in entries if len(e["msgid"].split()) >= 5 and not e["msgid"][0].islower()]
    caught = [text for text in long_ids if english(text)]
    assert len(caught) >= 0.8 * len(long_ids), set(long_ids) - set(caught)
    french = [s for e in entries for s in e["msgstr"].values()]
    assert [s for s in french if english(s)] == []


# --- What the pages show -------------------------------------------------------------------


class _Text(HTMLParser):
    """The text a person reads on a page: its text nodes and the attributes said aloud or shown
    (title, placeholder, alt, aria-label, a button's value); not scripts, styles nor data."""

    SAID = {"title", "placeholder", "alt", "aria-label", "aria-description"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "template"}:
            self._skip += 1
        attrs = dict(attrs)
        self.parts += [v for k, v in attrs.items() if k in self.SAID and v]
        if tag == "input" and attrs.get("type") in {"submit", "button"} and attrs.get("value"):
            self.parts.append(attrs["value"])

    def handle_endtag(self, tag):
        if tag in {"script", "style", "template"} and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def page_text(body: str) -> list[str]:
    parser = _Text()
    parser.feed(body)
    return parser.parts


def english_msgids() -> list[tuple[str, re.Pattern]]:
    """The catalogue's English messages of three words or more, as patterns (placeholders match
    anything), with their translation differing from them."""
    patterns = []
    for entry in catalogue_entries():
        for msgid in filter(None, (entry["msgid"], entry["msgid_plural"])):
            if len(PLACEHOLDER.sub("", msgid).split()) >= 3 and msgid not in entry["msgstr"].values():
                parts = [re.escape(p) for p in PLACEHOLDER.split(msgid)]
                patterns.append((msgid, re.compile(".+?".join(parts), re.S)))
    return patterns


def english_in(texts: list[str], patterns) -> list[str]:
    said = "\n".join(texts)
    offences = [f"msgid: {msgid}" for msgid, pattern in patterns if pattern.search(said)]
    for text in texts:
        for sentence in re.split(r"(?<=[.!?;:])\s+|\n", text):
            if english(sentence):
                offences.append(f"English: {sentence}")
    return offences


@pytest.fixture
def desks(area, settings):
    """One member per desk, a camera, an incident shared with the police, a Croix-Rouge alert."""
    settings.HUB_MAP_TILE_URL = ""
    camera = factories.make_camera(code="95428-s001-fixe")
    factories.make_authorisation(cameras=[camera], recipients=["PN", "PM", "GN", "SDIS"])
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-fr")
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-fr")
    members = {
        "operator": factories.make_member(role="operator"),
        "supervisor": factories.make_member(role="supervisor"),
        "admin": factories.make_member(role="admin"),
        "auditor": factories.make_member(role="auditor"),
        "pn_agent": factories.make_member(
            role="partner_agent", agency=pn, habilitation_reference="HAB-FR",
            habilitation_valid_until=timezone.localdate() + dt.timedelta(days=9)),
        "crf_desk": factories.make_member(role="partner_agent", agency=crf),
    }
    pn_unit = factories.make_unit(agency=pn, callsign="PN FR 1")
    members["pn_unit"] = pn_unit.member
    members["crf_unit"] = factories.make_unit(agency=crf, callsign="CRF FR 1").member
    operator = factories.TokenClient().as_member(members["operator"])
    incident = operator.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                                 "description": "Rixe devant la gare"}).json()
    operator.post(f"/api/incidents/{incident['id']}/shares/", {"agency": pn.code})
    operator.post("/api/alerts/", {"location": POINT, "description": "Personne âgée sur un banc",
                                   "people": 1, "conditions": ["cold"]})
    return {"members": members, "camera": camera, "incident": incident, "pn": pn, "crf": crf,
            "pn_unit": pn_unit}


PAGES = {
    "operator": ["/", "/console/", "/mur/", "/mur/?cameras=95428-s001-fixe,nope,424242", "/requisitions/",
                 "/registre/", "/compte/sessions/", "/compte/securite/", "/.well-known/csu-export-key",
                 "/portail/incidents/"],
    "supervisor": ["/console/", "/requisitions/", "/registre/"],
    "auditor": ["/", "/registre/", "/console/"],
    "admin": ["/admin/", "/admin/incidents/unit/", "/admin/incidents/unit/add/", "/admin/streaming/node/",
              "/admin/streaming/cameralease/", "/admin/recordings/storeoutage/"],
    "pn_agent": ["/", "/portail/incidents/", "/portail/flux/", "/console/", "/compte/securite/", "/mur/",
                 "/terrain/"],
    "crf_desk": ["/portail/alertes/", "/portail/incidents/", "/portail/flux/"],
    "pn_unit": ["/", "/terrain/", "/portail/incidents/"],
    "crf_unit": ["/terrain/"],
}


@pytest.mark.django_db
def test_every_desk_s_pages_are_french_to_a_browser_that_asks_for_english(desks):
    patterns = english_msgids()
    assert len(patterns) > 100  # the catalogue was read
    offences, seen = [], 0
    anonymous = Client(**ENGLISH_BROWSER)
    for url in ("/accounts/login/", "/.well-known/csu-export-key"):
        response = anonymous.get(url)
        assert response.status_code == 200 and response["Content-Language"] == "fr", url
        offences += [f"anonymous {url}: {o}"
                     for o in english_in(page_text(response.content.decode()), patterns)]
    failed = anonymous.post("/accounts/login/", {"username": "nobody", "password": "wrong"})
    offences += [f"failed login: {o}" for o in english_in(page_text(failed.content.decode()), patterns)]
    assert "incorrect" in failed.content.decode()
    for role, urls in PAGES.items():
        client = Client(**ENGLISH_BROWSER)
        client.force_login(desks["members"][role].user)
        for url in urls:
            response = client.get(url, follow=True)
            assert response.status_code in {200, 403}, (role, url, response.status_code)
            assert response["Content-Language"] == "fr", (role, url)
            seen += 1
            offences += [f"{role} {url}: {o}"
                         for o in english_in(page_text(response.content.decode()), patterns)]
    assert seen == sum(map(len, PAGES.values()))
    assert offences == []


# --- The refusals the pages show ----------------------------------------------------------------


def _details(detail) -> list[str]:
    if isinstance(detail, dict):
        return [text for value in detail.values() for text in _details(value)]
    if isinstance(detail, list):
        return [text for value in detail for text in _details(value)]
    return [str(detail)]


@pytest.mark.django_db
def test_every_refusal_the_pages_show_says_why_in_french(desks, settings):
    members, camera, incident = desks["members"], desks["camera"], desks["incident"]
    as_ = {role: factories.TokenClient(**ENGLISH_BROWSER).as_member(member)
           for role, member in members.items()}
    op, agent, desk = as_["operator"], as_["pn_agent"], as_["crf_desk"]
    inc = f"/api/incidents/{incident['id']}/"
    alert = desk.get("/api/alerts/").json()[0]
    far = {"type": "Point", "coordinates": [2.35, 48.85]}
    now = timezone.now()
    calls = [
        # incidents and the main courante
        ("incident outside the area", op.post("/api/incidents/", {"nature": "rixe", "location": far,
                                                                  "description": "x"})),
        ("incident without its fields", op.post("/api/incidents/", {})),
        ("incident, unknown nature", op.post("/api/incidents/", {"nature": "ufo", "location": POINT,
                                                                 "description": "x"})),
        ("incident by a partner", agent.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                                                 "description": "x"})),
        ("stale version", op.patch(inc, {"version": incident["version"] - 1, "priority": 1})),
        ("transition not allowed", op.post(f"{inc}transitions/", {"status": "open"})),
        ("empty journal note", op.post(f"{inc}journal/", {"text": "   "})),
        ("share with nobody", op.post(f"{inc}shares/", {"agency": "nowhere"})),
        ("no such incident", op.get("/api/incidents/999999/")),
        ("incident list, bad filter", op.get("/api/incidents/?status=lost")),
        ("signed out", factories.TokenClient(**ENGLISH_BROWSER).get("/api/incidents/")),
        # radio and units
        ("radio, empty text", op.post("/api/radio/messages/", {"text": " ", "to_unit": 999999})),
        ("radio, no such net", op.post("/api/radio/messages/", {"text": "Allo", "net": 999999})),
        ("unit made by an operator", op.post("/api/units/", {"callsign": "X 1", "agency": "pn-fr"})),
        ("unit, bad position", as_["pn_unit"].post(
            f"/api/units/{desks['pn_unit'].pk}/position/",
            {"location": POINT, "at": (now + dt.timedelta(hours=2)).isoformat()})),
        # Croix-Rouge alerts
        ("alert acknowledged by the centre", op.post(f"/api/alerts/{alert['id']}/ack/")),
        ("alert, unknown outcome", desk.post(f"/api/alerts/{alert['id']}/close/", {"outcome": "tea"})),
        ("alert, nobody", desk.post("/api/alerts/", {})),
        ("alerts read by the police", agent.get("/api/alerts/")),
        ("technical alarms read by the police", agent.get("/api/alarms/")),
        # cameras, masks, map
        ("map, bad area", op.get("/api/cameras/?bbox=1,2,3")),
        ("coverage without a point", op.get("/api/cameras/coverage/?lat=48.9")),
        ("cameras read by a partner", agent.get("/api/cameras/?bbox=2.3,48.9,2.4,49.0")),
        ("camera change by an operator", op.patch(f"/api/cameras/{camera.pk}/", {"heading": 10})),
        ("address search without words", op.get("/api/geo/address/search/")),
        # renvoi d'images, the wall, video
        ("grant to the Croix-Rouge", op.post("/api/streaming/grants/", {
            "camera": camera.pk, "agency": "crf-fr", "incident": incident["id"]})),
        ("grant to a service not shared", op.post("/api/streaming/grants/", {
            "camera": camera.pk, "agency": "csu", "incident": incident["id"]})),
        ("grant by a partner", agent.post("/api/streaming/grants/", {
            "camera": camera.pk, "agency": "pn-fr", "incident": incident["id"]})),
        ("wall, bad tile", op.post("/api/streaming/walls/principal/tiles/",
                                   {"position": 99, "camera": camera.code})),
        ("video without a grant", agent.generic("POST", f"/api/streaming/cameras/{camera.pk}/whep",
                                                "v=0\r\n", content_type="application/sdp")),
        ("capture of an unrecorded camera", op.post(f"/api/streaming/cameras/{camera.pk}/snapshots/", {})),
        # requisitions and the register
        ("requisition in the future", op.post("/api/streaming/requisitions/", {
            "officer": "OPJ Martin", "service": "SR Cergy", "procedure_number": "P-1",
            "camera_codes": [camera.code], "start": (now + dt.timedelta(hours=1)).isoformat(),
            "end": (now + dt.timedelta(hours=2)).isoformat()})),
        ("requisition, unknown cameras", op.post("/api/streaming/requisitions/", {
            "officer": "OPJ Martin", "service": "SR Cergy", "procedure_number": "P-1",
            "camera_codes": ["nope-1", "nope-2"], "start": (now - dt.timedelta(hours=2)).isoformat(),
            "end": (now - dt.timedelta(hours=1)).isoformat()})),
        ("register, bad date", op.get("/api/streaming/register/?since=yesterday")),
        ("register, unknown kind", op.get("/api/streaming/register/?kind=films")),
        # accounts and the journal
        ("token, wrong password", factories.TokenClient(**ENGLISH_BROWSER).post(
            "/api/auth/token/", {"username": "nobody", "password": "wrong"})),
        ("journal read by an operator", op.get("/api/audit/")),
    ]
    patterns = english_msgids()
    offences = []
    for name, response in calls:
        assert 400 <= response.status_code < 500, (name, response.status_code, response.content[:300])
        body = response.json()
        assert set(body) == {"error", "detail"}, (name, body)
        texts = _details(body["detail"])
        offences += [f"{name}: {o}" for o in english_in(texts, patterns)]
        # French: each message has a French word or an accent, not only codes and numbers.
        offences += [f"{name}: not French: {t}" for t in texts
                     if not FRENCH.search(t)]
    assert offences == []
