#!/usr/bin/env python3
"""Computes the digest tree of docs/PROTOCOL.md for the rows in digest-rows.json with Python's own
SHA-256, independently of promo-sync's Swift code, and writes digest-golden.json, which
DigestGoldenTests compares with SyncCore's DigestTree. Run it again only when the protocol changes:
    python3 Tests/SyncCoreTests/Golden/digest_tree.py
"""
import hashlib
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def hex8(data: bytes) -> str:
    return hashlib.sha256(data).digest()[:8].hex()


def row_digest(table, row_id, fields, columns):
    # "row" U+001F table U+001F id, then per column U+001E and n | i<int> | t<utf-8 length>:<text>
    text = b"row\x1f" + table.encode() + b"\x1f" + row_id.encode()
    for column in columns:
        value = fields.get(column)
        text += b"\x1e"
        if value is None:
            text += b"n"
        elif isinstance(value, int):
            text += b"i" + str(value).encode()
        else:
            encoded = value.encode()
            text += b"t" + str(len(encoded)).encode() + b":" + encoded
    return hex8(text)


def leaf_path(table, row_id, fields, dating):
    value = fields.get(dating[table])
    year = "0" if value is None else (str(value) if isinstance(value, int) else value[:4])
    year = year.replace("/", "_")
    h = hashlib.sha256(row_id.encode()).digest()
    bucket = (h[0] << 4) | (h[1] >> 4)
    return f"{table}/{year}/{bucket >> 8:x}/{(bucket >> 4) & 15:x}/{bucket & 15:x}"


def combine(children):
    return hex8("".join(f"{name}={digest};" for name, digest in sorted(children.items())).encode())


def main():
    with open(os.path.join(HERE, "digest-rows.json"), encoding="utf-8") as f:
        data = json.load(f)
    rows, paths, nodes = {}, {}, {}
    for row in data["rows"]:
        table, row_id, fields = row["table"], row["id"], row["fields"]
        digest = row_digest(table, row_id, fields, data["columns"][table])
        path = leaf_path(table, row_id, fields, data["dating"])
        rows[f"{table}/{row_id}"] = digest
        paths[f"{table}/{row_id}"] = path
        nodes.setdefault(path, {})[row_id] = digest
    level = dict(nodes)
    for _ in range(5):  # leaf → table level: five components
        parents = {}
        for path, children in level.items():
            parent, _, name = path.rpartition("/")
            parents.setdefault(parent, {})[name] = combine(children)
        nodes.update(parents)
        level = parents
    golden = {"rows": rows, "paths": paths, "nodes": nodes, "root": combine(nodes[""])}
    with open(os.path.join(HERE, "digest-golden.json"), "w", encoding="utf-8") as f:
        json.dump(golden, f, indent=1, sort_keys=True, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
