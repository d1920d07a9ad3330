"""Store keys, digest segments, metadata sanitizing and state identity."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import types
import urllib.parse
from datetime import UTC, datetime, timedelta, timezone

import pytest

from archiver._layout import (
    BundleKey,
    bundle_key,
    digest_segment,
    new_snapshot_id,
    parse_bundle_key,
    parse_snapshot_key,
    quarantine_prefix,
    readme_sha256,
    sanitize_metadata,
    snapshot_key,
    snapshot_time,
    state_id,
)

from .test_schema import VERSION_UUID, WORKFLOW_UUID, version_response, workflow_response

SEGMENT = re.compile(r"^[A-Za-z0-9._=+@,-]+$")
STATE = "0123456789abcdef0123456789abcdef"


def test_digest_segment_sha256() -> None:
    hexdigest = hashlib.sha256(b"x").hexdigest()
    assert digest_segment(f"sha256:{hexdigest}") == f"sha256-{hexdigest}"


def test_digest_segment_base64_uses_the_url_safe_alphabet_without_padding() -> None:
    raw = bytes([0xFB, 0xFF, 0xBF] * 10 + [0xFF, 0xFE])  # 32 bytes: '+', '/' and '=' all appear
    digest = base64.b64encode(raw).decode()
    assert "+" in digest and "/" in digest and digest.endswith("=")
    seg = digest_segment(digest)
    assert seg == "b64-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert SEGMENT.match(seg)


@pytest.mark.parametrize(
    "digest", ["md5:abc", "sha256:XYZ", "has space", "a/b?c", "sha256:" + "a" * 63, "Zm9v="]
)
def test_digest_segment_other_is_hashed(digest: str) -> None:
    seg = digest_segment(digest)
    assert seg == "x-" + hashlib.sha256(digest.encode()).hexdigest()[:40]
    assert SEGMENT.match(seg)


def test_digest_segment_is_injective_on_the_common_kinds_and_refuses_empty() -> None:
    digests = ["sha256:" + "ab" * 32, "sha256:" + "AB" * 32, "AAAA", "AAA=", "AA==", "abc+", "abc-"]
    segments = [digest_segment(d) for d in digests]
    assert len(set(segments)) == len(segments)
    assert all(SEGMENT.match(s) for s in segments)
    with pytest.raises(ValueError):
        digest_segment("")


def test_sanitize_removes_urls_and_envelope_and_converts_datetimes() -> None:
    response = workflow_response()
    response["creationTime"] = datetime(2024, 5, 1, 14, 30, 15, 250000, tzinfo=timezone(timedelta(hours=2)))
    response["extra"] = {"when": [datetime(2024, 1, 1)], "tuple": (1, 2)}
    before = copy.deepcopy(response)
    meta = sanitize_metadata(response)
    assert response == before, "the response must not be modified"
    assert "definition" not in meta and "readme" not in meta and "ResponseMetadata" not in meta
    assert meta["creationTime"] == "2024-05-01T12:30:15.250000Z"
    assert meta["extra"] == {"when": ["2024-01-01T00:00:00Z"], "tuple": [1, 2]}
    assert meta["readmePath"] == "docs/README.md"
    assert sanitize_metadata(meta) == meta


_PRESIGNED = (
    "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=ASIAEXAMPLEEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host"
    "&X-Amz-Signature=" + "0123abcd" * 8
)


@pytest.mark.parametrize(
    "where",
    [
        ("description",),
        ("tags", "note"),
        ("metadata", "X-Amz-Security-Token"),
    ],
)
def test_sanitize_refuses_a_leftover_presigned_url(where: tuple[str, ...]) -> None:
    response = workflow_response()
    target = response
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = f"see {_PRESIGNED} for details"
    with pytest.raises(ValueError, match="presigned-URL credential") as info:
        sanitize_metadata(response)
    assert "0123abcd" not in str(info.value)


def test_sanitize_refuses_a_credential_of_the_urls_it_received() -> None:
    response = workflow_response()
    response["definition"] = _PRESIGNED.replace("0123abcd", "feedbeef")
    response["description"] = "signed " + "feedbeef" * 8  # the signature alone, echoed elsewhere
    with pytest.raises(ValueError, match=r"\$\.description"):
        sanitize_metadata(response)


@pytest.mark.parametrize("token", ['quote"in+the+token', "back\\slash+in+the+token", "tab\tin+the+token"])
def test_sanitize_finds_a_received_credential_that_json_text_would_escape(token: str) -> None:
    # the quick check reads the document's JSON text, where these characters are escaped
    response = workflow_response()
    quoted = urllib.parse.quote(token, safe="")
    response["readme"] = f"https://b.s3.amazonaws.com/k?X-Amz-Security-Token={quoted}&X-Amz-Signature=0"
    response["tags"]["leak"] = f"token {token}"
    with pytest.raises(ValueError, match=r"\$\.tags\.leak"):
        sanitize_metadata(response)


def test_sanitize_of_a_mapping_or_subclass_converts_as_before() -> None:
    class Text(str):
        pass

    response = workflow_response()
    response["tags"] = types.MappingProxyType({"k": Text("v"), "when": datetime(2026, 1, 2, tzinfo=UTC)})
    assert sanitize_metadata(response)["tags"] == {"k": "v", "when": "2026-01-02T00:00:00Z"}
    with pytest.raises(ValueError, match=r"\$\.tags \(a key\)|\$\.tags: .*not a string|at \$\.tags"):
        sanitize_metadata({**response, "tags": {1: "x"}})


@pytest.mark.parametrize(
    "text",
    [
        "X-Amz-Signature=",
        "rotate when X-Amz-Signature=abc shows up in logs",
        "https://b.s3.amazonaws.com/k?X-Amz-Signature=0123abcd",  # a signature without its credential
    ],
)
def test_sanitize_keeps_text_that_only_names_the_parameters(text: str) -> None:
    response = workflow_response()
    response["description"] = text
    response["tags"]["note"] = text
    meta = sanitize_metadata(response)
    assert meta["description"] == text and meta["tags"]["note"] == text


def test_sanitize_refuses_values_json_cannot_hold() -> None:
    with pytest.raises(ValueError, match=r"\$\.blob"):
        sanitize_metadata({"blob": b"bytes"})


def test_state_id_is_stable() -> None:
    a = workflow_response()
    b = dict(reversed(list(workflow_response().items())))
    sid = state_id(a, None)
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    assert state_id(b, None) == sid
    assert state_id(sanitize_metadata(a), None) == sid


def test_state_id_ignores_the_presigned_urls_and_the_envelope() -> None:
    a, b = workflow_response(), workflow_response()
    b["definition"] = "https://elsewhere.example/def.zip?X-Amz-Signature=other"
    b["readme"] = "https://elsewhere.example/readme?X-Amz-Signature=other"
    b["ResponseMetadata"] = {"RequestId": "another"}
    assert state_id(a, None) == state_id(b, None)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "Somatic variant calling"),
        ("name", "germline-v2"),
        ("tags", {"owner": "someone-else"}),
        ("storageCapacity", 2400),
        ("storageType", "DYNAMIC"),
        ("status", "INACTIVE"),
        ("digest", "sha256:" + "00" * 32),
        ("newServiceField", True),
        ("readmePath", "other/README.md"),
        ("metadata", {"engineVersion": "1.2"}),
        ("profiles", ["small"]),
        (
            "definitionRepositoryDetails",
            {"fullRepositoryId": "o/r", "sourceReference": {"type": "TAG", "value": "v2"}},
        ),
    ],
)
def test_state_id_changes_with_any_metadata_change(field: str, value: object) -> None:
    base = workflow_response()
    changed = workflow_response()
    changed[field] = value
    assert state_id(changed, None) != state_id(base, None)


def test_state_id_changes_with_the_readme() -> None:
    meta = workflow_response()
    none = state_id(meta, None)
    one = state_id(meta, readme_sha256(b"# one\n"))
    two = state_id(meta, readme_sha256(b"# two\n"))
    assert len({none, one, two}) == 3
    assert readme_sha256(b"") is None and readme_sha256(None) is None
    with pytest.raises(ValueError):
        state_id(meta, "not-a-hash")


def test_bundle_keys_round_trip() -> None:
    digest = "sha256:" + "3b" * 32
    wkey = bundle_key(workflow_uuid=WORKFLOW_UUID, version_uuid=None, digest=digest, state_id=STATE)
    assert wkey == f"bundles/{WORKFLOW_UUID}/workflow/sha256-{'3b' * 32}/{STATE}.tar.zst"
    parsed = parse_bundle_key(wkey)
    assert parsed == BundleKey("workflow", WORKFLOW_UUID, None, f"sha256-{'3b' * 32}", STATE)
    assert parsed.key == wkey
    vkey = bundle_key(
        workflow_uuid=WORKFLOW_UUID, version_uuid=VERSION_UUID, digest="AbC+/0==", state_id=STATE
    )
    assert vkey == f"bundles/{WORKFLOW_UUID}/versions/{VERSION_UUID}/b64-AbC-_0/{STATE}.tar.zst"
    parsed = parse_bundle_key(vkey)
    assert (parsed.kind, parsed.version_uuid, parsed.key) == ("version", VERSION_UUID, vkey)
    assert all(SEGMENT.match(seg) for seg in vkey.split("/"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workflow_uuid": "1234567", "version_uuid": None, "digest": "d", "state_id": STATE},
        {"workflow_uuid": WORKFLOW_UUID, "version_uuid": "../x", "digest": "d", "state_id": STATE},
        {"workflow_uuid": WORKFLOW_UUID, "version_uuid": None, "digest": "d", "state_id": "XYZ"},
        {"workflow_uuid": WORKFLOW_UUID, "version_uuid": None, "digest": "", "state_id": STATE},
    ],
)
def test_bundle_key_refuses_bad_parts(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        bundle_key(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "key",
    [
        "bundles/x/workflow/d/s.tar.zst",
        f"bundles/{WORKFLOW_UUID}/workflow/d/{STATE}.tar",
        f"bundles/{WORKFLOW_UUID}/versions/d/{STATE}.tar.zst",
        f"snapshots/aws/123456789012/us-east-1/{STATE}.json",
    ],
)
def test_parse_bundle_key_refuses_other_keys(key: str) -> None:
    with pytest.raises(ValueError):
        parse_bundle_key(key)


def test_snapshot_ids_sort_by_time_and_keys_round_trip() -> None:
    t0 = datetime(2026, 11, 24, 1, 2, 3, 123456, tzinfo=UTC)
    ids = [new_snapshot_id(t0 + timedelta(microseconds=n)) for n in (0, 1, 999_999, 10**7)]
    assert ids == sorted(ids)
    assert re.fullmatch(r"20261124T010203123456Z-[0-9a-f]{8}", ids[0])
    assert snapshot_time(ids[0]) == t0
    other_zone = new_snapshot_id(t0.astimezone(timezone(timedelta(hours=-5))))
    assert other_zone[:22] == ids[0][:22]
    key = snapshot_key("aws", "123456789012", "us-east-1", ids[0])
    assert key == f"snapshots/aws/123456789012/us-east-1/{ids[0]}.json"
    parsed = parse_snapshot_key(key)
    assert (parsed.partition, parsed.account, parsed.region, parsed.snapshot_id) == (
        "aws",
        "123456789012",
        "us-east-1",
        ids[0],
    )
    assert parsed.key == key and parsed.time == t0
    with pytest.raises(ValueError):
        new_snapshot_id(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        snapshot_key("aws", "12345", "us-east-1", ids[0])
    with pytest.raises(ValueError):
        parse_snapshot_key("snapshots/aws/123456789012/us-east-1/latest.json")


def test_quarantine_prefix() -> None:
    run = "20261124T010000000001Z-9f8e7d6c"
    assert quarantine_prefix("123456789012", "us-east-1", run, "1234567", None) == (
        f"quarantine/123456789012/us-east-1/{run}/1234567"
    )
    assert quarantine_prefix("123456789012", "us-east-1", run, "1234567", "v2.1_rc-1") == (
        f"quarantine/123456789012/us-east-1/{run}/1234567@v2.1_rc-1"
    )
    for bad in [("12", "us-east-1", run, "1", None), ("123456789012", "us-east-1", run, "1", "../v")]:
        with pytest.raises(ValueError):
            quarantine_prefix(*bad)


def test_version_metadata_sanitizes_too() -> None:
    meta = sanitize_metadata(version_response())
    assert meta["versionName"] == "v2" and "definition" not in meta


def test_received_secrets_are_what_parse_qsl_finds() -> None:
    """The lazy query parse finds exactly the credential values ``urllib.parse.parse_qsl`` gives."""
    import random

    from archiver import _layout

    def by_parse_qsl(response: dict[str, str]) -> set[str]:
        found: set[str] = set()
        for name in ("definition", "readme"):
            url = response.get(name, "")
            if "?" in url:
                for key, value in urllib.parse.parse_qsl(url.split("?", 1)[1], keep_blank_values=True):
                    secret = key.lower() in ("x-amz-signature", "x-amz-credential", "x-amz-security-token")
                    if secret and len(value) >= 16:
                        found.add(value)
                found.add(url)
        return found

    rng = random.Random(5)
    names = [
        "X-Amz-Signature",
        "x-amz-credential",
        "X-Amz-Security-Token",
        "X-Amz-%53ignature",
        "X%2BAmz",
        "a+b",
        "",
    ]
    pieces = [
        "0123456789abcdef" * 2,
        "AKIA%2F20261201%2Fus-east-1",
        "a+b+c" * 5,
        "%zz" * 8,
        "x=y" * 6,
        "é%C3%A9" * 4,
        "",
    ]
    for _ in range(400):
        fields = []
        for _ in range(rng.randrange(0, 8)):
            name, value = rng.choice(names), rng.choice(pieces)
            fields.append(rng.choice([f"{name}={value}", name, "", f"{name}={value}={value}"]))
        url = "https://bucket.s3.amazonaws.com/definition.zip?" + "&".join(fields)
        response = {"definition": url, "readme": url.replace("definition", "readme")}
        assert _layout._received_secrets(response) == by_parse_qsl(response), url
