#!/usr/bin/env python3
"""Writes the golden push body of protocol version 1 (push-v1.json) with the changeset hash
computed here, with Python's own SHA-256, from the canonical form as docs/PROTOCOL.md states it,
independently of promo-sync's Swift code. WireGoldenTests reads it (and pull-v1.json, written by
hand from the same document): every later release must read both, and the centre must accept the
push. Run it again only when the protocol changes, as a new version's file beside this one:
    python3 Tests/SyncCoreTests/Golden/wire/wire_golden.py
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
GENESIS = "0" * 64


def canonical(changeset):
    # Each string as <byte length>:<bytes>: "promo-sync/changeset/v1", office, sequence,
    # previousHash, number of changes; per change table, id, op, hlc, number of fields, and per
    # field (sorted by name) the name and n | i<int> | t<text>.
    out = b""

    def put(text):
        nonlocal out
        data = text.encode("utf-8")
        out += str(len(data)).encode() + b":" + data

    put("promo-sync/changeset/v1")
    put(changeset["office"])
    put(str(changeset["sequence"]))
    put(changeset["previousHash"])
    put(str(len(changeset["changes"])))
    for change in changeset["changes"]:
        for key in ("table", "id", "op", "hlc"):
            put(change[key])
        fields = change.get("fields", {})
        put(str(len(fields)))
        for name in sorted(fields):
            value = fields[name]
            put(name)
            if value is None:
                put("n")
            elif isinstance(value, int):
                put("i" + str(value))
            else:
                put("t" + value)
    return out


PLAN = "01930000-0000-7000-8000-000000000001"
PROJECT = "01930000-0000-7000-8000-000000000002"
EVENT = "01930000-0000-7000-8000-000000000003"
changeset = {
    "office": "79",
    "sequence": 1,
    "previousHash": GENESIS,
    "changes": [
        {"table": "plan_line", "id": PLAN, "op": "upsert", "hlc": "0000193000000-0000-79",
         "fields": {"office": "79", "year": 2025, "fund_source": "local", "amount": 12000000000,
                    "note": "Kế hoạch khuyến công địa phương 2025"}},
        {"table": "project", "id": PROJECT, "op": "upsert", "hlc": "0000193000001-0000-79",
         "fields": {"office": "79", "province": "79", "code": "HCM-2025-01",
                    "name": "Mô hình trình diễn máy sấy nông sản", "category": "MH_TRINHDIEN",
                    "fund_source": "local", "beneficiary": "HTX Củ Chi", "year": 2025,
                    "total_cost": 2400000000, "requested_support": 720000000, "approved_support": None,
                    "status": "draft", "program_id": None, "commune": None, "counterpart_funds": None}},
        {"table": "project_event", "id": EVENT, "op": "upsert", "hlc": "0000193000001-0001-79",
         "fields": {"office": "79", "project_id": PROJECT, "kind": "created", "occurred_on": "2025-03-01",
                    "amount": None, "reference": None, "note": "tạo dự án \"máy sấy\" \\ dòng 1\ndòng 2"}},
    ],
}
changeset["hash"] = hashlib.sha256(canonical(changeset)).hexdigest()
body = {"protocolVersion": 1, "changeset": changeset}
with open(os.path.join(HERE, "push-v1.json"), "w", encoding="utf-8") as f:
    json.dump(body, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(changeset["hash"])
