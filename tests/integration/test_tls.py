"""listen.tls: one TLS port, ALPN picks HTTP/2 (and gRPC) or HTTP/1.1; certificates reload with
the configuration, and a bad one is refused while the old one keeps serving.

Real clients: curl (OpenSSL, ALPN h2 and http/1.1), python3-grpcio over a secure channel, and
`openssl s_client` to read the served certificate. Certificates are made for the test with the
openssl command line."""

import json
import os
import subprocess

import sluice_it as it


def make_cert(directory, cn):
    key, crt = os.path.join(directory, f"{cn}.key"), os.path.join(directory, f"{cn}.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", f"/CN={cn}",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return crt, key


def served_subject(addr):
    host, port = addr.rsplit(":", 1)
    out = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-servername",
                          "localhost"], input=b"", capture_output=True, timeout=20).stdout
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("subject="):
            return line.split("CN", 1)[1].strip(" =")
    return None


class TlsTest(it.SluiceTestCase):
    @classmethod
    def prepare(cls):
        cls.dir = cls.tmp
        cls.protos = os.path.join(cls.tmp.name, "py")
        os.mkdir(cls.protos)
        it.compile_protos(cls.protos)
        cls.crt = os.path.join(cls.dir.name, "server.crt")
        cls.key = os.path.join(cls.dir.name, "server.key")
        first_crt, first_key = make_cert(cls.dir.name, "first")
        os.replace(first_crt, cls.crt)
        os.replace(first_key, cls.key)

    @classmethod
    def sluice_args(cls):
        return ("listen.tls=127.0.0.1:0", f"tls.cert_file={cls.crt}",
                f"tls.key_file={cls.key}"), None

    def curl(self, version, event_id):
        body = json.dumps(it.batch([it.event(event_id)]))
        out = subprocess.run(
            ["curl", "-s", "-o", "-", "-w", "\\n%{http_version} %{http_code}", version,
             "--cacert", self.crt, "-H", f"Authorization: Bearer {self.token}",
             "-H", "Content-Type: application/json", "--data-binary", body,
             f"https://{self.sluice.tls.replace('127.0.0.1', 'localhost')}/v1/events"],
            capture_output=True, timeout=30, check=True).stdout.decode()
        text, status = out.rsplit("\n", 1)
        return status.split(), json.loads(text)

    def test_alpn_h2_and_http11_on_one_port(self):
        self.assertIsNotNone(self.sluice.tls, "the banner names the TLS address")
        p = it.unique("tls")
        (v2, code2), body2 = self.curl("--http2", f"{p}-h2")
        (v1, code1), body1 = self.curl("--http1.1", f"{p}-h1")
        self.assertEqual((v2, code2), ("2", "200"), body2)
        self.assertEqual((v1, code1), ("1.1", "200"), body1)
        self.assertEqual(body1["accepted"], 1)
        self.assertEqual(body2["accepted"], 1)
        by_id = it.wait_for_event_ids([f"{p}-h2", f"{p}-h1"], prefix=p)
        self.assertEqual(sorted(by_id), [f"{p}-h1", f"{p}-h2"])
        # HTTP/1.1 keep-alive through the TLS pump: three requests on one connection.
        body = json.dumps(it.batch([it.event(f"{p}-ka")]))
        out = subprocess.run(
            ["curl", "-s", "--http1.1", "--cacert", self.crt, "-H",
             f"Authorization: Bearer {self.token}", "-H", "Content-Type: application/json",
             "--data-binary", body] +
            [f"https://localhost:{self.sluice.tls.rsplit(':', 1)[1]}/v1/events"] * 3,
            capture_output=True, timeout=30, check=True).stdout.decode()
        self.assertEqual(out.count('"received":1'), 3, out)

    def test_b_grpc_over_tls(self):
        import grpc  # noqa: E402  (Debian's python3-grpcio)
        from sluice.v1 import envelope_pb2 as env  # noqa: E402
        from sluice.events.v1 import raw_pb2 as raw  # noqa: E402
        creds = grpc.ssl_channel_credentials(open(self.crt, "rb").read())
        port = self.sluice.tls.rsplit(":", 1)[1]
        with grpc.secure_channel(f"localhost:{port}", creds) as ch:
            pub = ch.unary_unary("/sluice.v1.Ingest/Publish",
                                 request_serializer=env.EventBatch.SerializeToString,
                                 response_deserializer=env.PublishResponse.FromString)
            eid = it.unique("tls-grpc")
            ev = env.Event(event_id=eid, type="page_view", occurred_at="2026-01-02T03:04:05Z",
                           user_id="u1",
                           properties=raw.PageView(url="https://x.example/").SerializeToString())
            r = pub(env.EventBatch(batch_id="tls", events=[ev]),
                    metadata=[("authorization", f"Bearer {self.token}")], timeout=30)
        self.assertEqual((r.received, r.accepted), (1, 1))
        self.assertIn(eid, it.wait_for_event_ids([eid], prefix=eid))

    # Runs last (by name): it replaces the certificate the others trust.
    def test_z_certificate_reloads_with_the_configuration(self):
        self.assertEqual(served_subject(self.sluice.tls), "first")
        second_crt, second_key = make_cert(self.dir.name, "second")
        os.replace(second_crt, self.crt)
        os.replace(second_key, self.key)
        r = it.admin_reload(self.sluice)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(served_subject(self.sluice.tls), "second", "new connections, new cert")
        with open(self.crt, "w") as f:
            f.write("not a certificate\n")
        r = it.admin_reload(self.sluice)
        self.assertNotEqual(r.status, 200, r)
        self.assertIn("tls.cert_file", r.json["error"]["message"])
        self.assertEqual(served_subject(self.sluice.tls), "second",
                         "a refused reload leaves the old certificate serving")


if __name__ == "__main__":
    it.main()
