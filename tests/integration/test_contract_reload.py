"""Contracts reload while traffic flows: a descriptor set with a new contract goes live on
POST /-/reload without a restart and without failing a request; one that would break the running
contracts is refused (409) and the old set keeps serving until ?force=true."""
import glob
import os
import shutil
import subprocess
import threading
import unittest

import sluice_it as it

WISHLIST = """syntax = "proto3";
package sluice.test.v1;
import "sluice/options/v1/options.proto";
message WishlistAdd {
  option (sluice.options.v1.contract) = {type: "wishlist_add", stage: STAGE_RAW};
  string product_id = 1 [(sluice.options.v1.rules) = {required: true, max_len: 64}];
}
"""


def compile_set(out, files, include_dirs):
    cmd = ["protoc", "--include_imports", f"--descriptor_set_out={out}"]
    cmd += [f"-I{d}" for d in include_dirs] + files
    subprocess.run(cmd, check=True, capture_output=True, text=True)


class ContractReloadTest(it.SluiceTestCase):

    @classmethod
    def prepare(cls):
        proto = os.path.join(it.env("SLUICE_SOURCE_DIR"), "proto")
        catalog = sorted(os.path.relpath(p, proto)
                         for p in glob.glob(os.path.join(proto, "sluice", "**", "*.proto"),
                                            recursive=True))
        t = cls.tmp.name
        with open(os.path.join(t, "wishlist.proto"), "w") as f:
            f.write(WISHLIST)
        compile_set(f"{t}/base.pb", catalog, [proto])
        compile_set(f"{t}/added.pb", catalog + ["wishlist.proto"], [proto, t])
        compile_set(f"{t}/broken.pb",
                    [c for c in catalog if not c.endswith("decisions.proto")], [proto])
        cls.current = f"{t}/current.pb"
        shutil.copy(f"{t}/base.pb", cls.current)

    @classmethod
    def sluice_args(cls):
        return (f"contracts.file={cls.current}",), None

    def install(self, name):
        shutil.copy(os.path.join(self.tmp.name, name), self.current + ".new")
        os.replace(self.current + ".new", self.current)

    def reload(self, force=False):
        return it.http_request(self.sluice.admin, "POST",
                               "/-/reload" + ("?force=true" if force else ""), body=b"")

    def post_one(self, ev):
        return self.sluice.post(it.batch([ev]), self.token)

    def test_new_contract_goes_live_under_traffic(self):
        p = it.unique("ctr")
        wish = lambda i: it.event(f"{p}-w{i}", type="wishlist_add",
                                  properties={"product_id": "p1"})
        impression = it.event(f"{p}-imp", type="recommendation_impression", properties={
            "request_id": "123e4567-e89b-12d3-a456-426614174000", "model_version": "m",
            "items": [{"item_id": "i"}]})
        r = self.post_one(wish(0))
        self.assertEqual(r.json["results"][0]["code"], "unknown_type", r)

        # Traffic that must not notice the reloads.
        stop = threading.Event()
        failures, accepted = [], []

        def traffic():
            n = 0
            while not stop.is_set():
                ids = [f"{p}-t{n}-{i}" for i in range(20)]
                n += 1
                r = self.sluice.post(it.batch([it.event(x) for x in ids]), self.token)
                if r.status != 200 or r.json["accepted"] != 20:
                    failures.append(r)
                else:
                    accepted.extend(ids)

        th = threading.Thread(target=traffic)
        th.start()
        try:
            self.install("added.pb")
            r = self.reload()
            self.assertEqual(r.status, 200, r)
            r = self.post_one(wish(1))
            self.assertEqual((r.status, r.json["accepted"]), (200, 1), r)

            # Dropping decisions.proto removes an event type: refused, nothing changes.
            self.install("broken.pb")
            r = self.reload()
            self.assertEqual(r.status, 409, r)
            self.assertEqual(r.error_code(), "breaking_contracts")
            self.assertTrue(any("recommendation_impression" in b or "RecommendationImpression" in b
                                for b in r.json["breaking"]), r.json)
            r = self.post_one(dict(impression, event_id=f"{p}-imp1"))
            self.assertEqual((r.status, r.json["accepted"]), (200, 1), r)
            r = self.post_one(wish(2))
            self.assertEqual(r.json["accepted"], 1, "the running set still has the new contract")

            # Forced, it applies.
            r = self.reload(force=True)
            self.assertEqual(r.status, 200, r)
            r = self.post_one(dict(impression, event_id=f"{p}-imp2"))
            self.assertEqual(r.json["results"][0]["code"], "unknown_type", r)
        finally:
            stop.set()
            th.join()
        self.assertEqual(failures, [], "requests failed during the reloads")
        self.assertGreater(len(accepted), 0)
        want = set(accepted + [f"{p}-w1", f"{p}-w2"])
        missing = want - set(it.wait_for_event_ids(want, prefix=p))
        self.assertFalse(missing, f"missing from Kafka: {sorted(missing)[:5]}")
        self.assertEqual(sorted(it.messages_by_event_id(topic="sluice.decisions", prefix=p)),
                         [f"{p}-imp1"])


if __name__ == "__main__":
    it.main()
