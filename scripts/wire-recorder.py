#!/usr/bin/env python3
"""Records what offices and their centre say to each other, for the wire fixtures of a release.

    wire-recorder.py --target http://127.0.0.1:PORT --port-file FILE --out FILE.jsonl \
        --office 79=TOKEN_FILE --office 80=TOKEN_FILE

Listens on a free loopback port (written to --port-file), forwards every request to --target
unchanged and appends one JSON line per exchange to --out: the office (found from the token of
the request, never written down), the method, path, the protocol's request headers, the body
exactly as sent (base64, with its Content-Encoding), and the answer's status, headers and body
(base64 as received). Tests/CentralTests/WireReplayTests.swift replays these lines against the
current centre (docs/OPERATIONS.md, "Rolling out a release").
"""
import argparse
import base64
import http.client
import http.server
import json
import threading
import urllib.parse

# The request headers an office's release sends that shape what the centre does; the token is
# replaced by the office's code and the request id is left out (both differ on every run).
KEPT_REQUEST_HEADERS = {
    "accept", "accept-encoding", "content-type", "content-encoding",
    "promo-software-version", "promo-protocol-version", "promo-schema-version", "promo-office-report",
}
KEPT_RESPONSE_HEADERS = {"content-type", "content-encoding"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--office", action="append", default=[], help="CODE=TOKEN_FILE")
    args = parser.parse_args()
    target = urllib.parse.urlparse(args.target)
    offices = {}
    for entry in args.office:
        code, path = entry.split("=", 1)
        with open(path) as handle:
            offices[handle.read().strip()] = code
    lock = threading.Lock()
    out = open(args.out, "a")

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def relay(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            forward = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "expect")}
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            connection.request(self.command, self.path, body=body or None, headers=forward)
            answer = connection.getresponse()
            answer_body = answer.read()
            answer_headers = answer.getheaders()
            connection.close()
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            exchange = {
                "office": offices.get(token) if token else None,
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items() if k.lower() in KEPT_REQUEST_HEADERS},
                "body": base64.b64encode(body).decode(),
                "status": answer.status,
                "response_headers": {k.lower(): v for k, v in answer_headers if k.lower() in KEPT_RESPONSE_HEADERS},
                "response_body": base64.b64encode(answer_body).decode(),
            }
            if token and exchange["office"] is None:
                exchange["office"] = "?"
            with lock:
                out.write(json.dumps(exchange, ensure_ascii=False, sort_keys=True) + "\n")
                out.flush()
            self.send_response(answer.status)
            for name, value in answer_headers:
                if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer_body)))
            self.end_headers()
            self.wfile.write(answer_body)

        do_GET = relay
        do_POST = relay

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file, "w") as handle:
        handle.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
