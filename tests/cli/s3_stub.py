#!/usr/bin/python3
"""A small S3 stand-in on loopback for what s3rver never does: a bucket in another region.

  s3_stub.py REGION MODE LOG

Serves one bucket (any name, path-style) held in memory: HEAD/GET/PUT/DELETE of keys,
ListObjectsV2; other requests answer 501 NotImplemented. A request signed for another region
than REGION (the region of the Authorization header's credential scope) is answered as AWS
does, by MODE:
  301     301 PermanentRedirect with an x-amz-bucket-region: REGION header
  400     400 AuthorizationHeaderMalformed whose body names REGION (no header); a HEAD, which
          has no body, gets a 400 with the x-amz-bucket-region header, as from AWS
  noheader  301 PermanentRedirect without the header or a region in the body
Prints the port on stdout once listening; appends "METHOD PATH REGION STATUS" for each request to LOG.
"""
import http.server
import re
import sys
import urllib.parse

REGION, MODE, LOG = sys.argv[1:4]
objects = {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=None, head=False):
        # Logged before the answer is sent: once mvc has its answer, the test can read the line.
        with open(LOG, "a") as log:
            log.write("%s %s %s %d\n" % (self.command, self.path.split("?")[0], self.signed_region(), status))
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def signed_region(self):
        m = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/s3/aws4_request", self.headers.get("Authorization", ""))
        return m.group(1) if m else "-"

    def error(self, status, code, extra="", headers=None):
        body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message>%s</Error>"
                % (code, code, extra)).encode()
        self.reply(status, body, headers, head=self.command == "HEAD")

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if self.signed_region() != REGION:
            if MODE == "301":
                return self.error(301, "PermanentRedirect", "", {"x-amz-bucket-region": REGION})
            if MODE == "400" and self.command == "HEAD":
                return self.error(400, "", "", {"x-amz-bucket-region": REGION})
            if MODE == "400":
                return self.error(400, "AuthorizationHeaderMalformed",
                                  "<Region>%s</Region>" % REGION)
            return self.error(301, "PermanentRedirect")
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.lstrip("/").split("/", 1)
        key = urllib.parse.unquote(parts[1]) if len(parts) > 1 else ""
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if key == "":
            if self.command == "GET" and query.get("list-type") == ["2"]:
                prefix = query.get("prefix", [""])[0]
                keys = "".join("<Contents><Key>%s</Key><Size>%d</Size></Contents>" % (k, len(v))
                               for k, v in sorted(objects.items()) if k.startswith(prefix))
                return self.reply(200, ("<ListBucketResult><IsTruncated>false</IsTruncated>%s</ListBucketResult>"
                                        % keys).encode())
            return self.error(501, "NotImplemented")
        if query:
            return self.error(501, "NotImplemented")
        if self.command == "PUT":
            objects[key] = data
            return self.reply(200, b"", {"ETag": "\"x\""})
        if self.command in ("GET", "HEAD"):
            if key not in objects:
                return self.error(404, "NoSuchKey")
            return self.reply(200, objects[key], head=self.command == "HEAD")
        if self.command == "DELETE":
            objects.pop(key, None)
            return self.reply(204)
        return self.error(501, "NotImplemented")

    do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = handle_any


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
