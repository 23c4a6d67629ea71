#!/usr/bin/python3
"""The standard client's side of the S3 tests (Debian's python3-botocore / python3-boto3).

  s3_client.py sign METHOD URL BODY_FILE TOKEN   print botocore's SigV4 Authorization header for a
                                                 fixed request at 2026-01-02T03:04:05Z, us-east-1
  s3_client.py list ENDPOINT BUCKET PREFIX       print every key under PREFIX, one a line
  s3_client.py get ENDPOINT BUCKET KEY OUT       download KEY to OUT
  s3_client.py put ENDPOINT BUCKET KEY IN        upload IN as KEY
  s3_client.py resolve PROFILE                   what botocore resolves from the environment and the
                                                 AWS shared files (PROFILE "-": none given, as boto3
                                                 without profile_name), as JSON: key, secret, token,
                                                 region ("" = none), or error (the exception's class)
Credentials: S3RVER / S3RVER (s3rver's own, whose signatures it checks).
"""
import datetime
import json
import sys


def client(endpoint):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER",
                        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}))


def sign(method, url, body_file, token):
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    fixed = datetime.datetime(2026, 1, 2, 3, 4, 5)

    class FixedDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed

    class FakeModule:
        datetime = FixedDatetime

    botocore.auth.datetime = FakeModule
    body = open(body_file, "rb").read() if body_file != "-" else b""
    req = AWSRequest(method=method, url=url, data=body)
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token if token != "-" else None)
    botocore.auth.S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    print(req.headers["Authorization"])


def resolve(profile):
    import os
    for name in [k for k, v in os.environ.items() if k.startswith("AWS_") and v == ""]:
        del os.environ[name]  # "" stands for unset, as in mvc
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    import botocore.exceptions
    import botocore.session
    session = botocore.session.Session(profile=None if profile == "-" else profile)
    try:
        creds = session.get_credentials()
        region = session.get_config_variable("region")
    except botocore.exceptions.BotoCoreError as e:
        print(json.dumps({"error": type(e).__name__}))
        return
    print(json.dumps({"key": creds.access_key if creds else "", "secret": creds.secret_key if creds else "",
                      "token": (creds.token if creds else "") or "", "region": region or ""}))


def main():
    cmd = sys.argv[1]
    if cmd == "sign":
        sign(*sys.argv[2:6])
    elif cmd == "list":
        endpoint, bucket, prefix = sys.argv[2:5]
        paginator = client(endpoint).get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                print(obj["Key"])
    elif cmd == "get":
        endpoint, bucket, key, out = sys.argv[2:6]
        client(endpoint).download_file(bucket, key, out)
    elif cmd == "put":
        endpoint, bucket, key, path = sys.argv[2:6]
        client(endpoint).upload_file(path, bucket, key)
    elif cmd == "resolve":
        resolve(sys.argv[2])
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
