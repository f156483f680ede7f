#!/usr/bin/env python3
"""Regenerate the protocol seeds in seeds/frame and seeds/body (the config
seeds are hand-written TOML). The JSON is spelled the way serde_json writes
the mfa_proto messages: internally tagged, snake_case, compact."""
import json, struct, os
os.chdir(os.path.dirname(os.path.abspath(__file__)))
S = 'seeds'
def w(path, data):
    if isinstance(data, str): data = data.encode()
    open(os.path.join(S, path), 'wb').write(data)
def body(o): return json.dumps(o, separators=(',',':'), ensure_ascii=False).encode()
def frame(o):
    b = o if isinstance(o, bytes) else body(o)
    return struct.pack('>I', len(b)) + b
ctx = {"service":"sshd","rhost":"192.0.2.7","tty":"ssh"}
req = {
 "req_hello": {"type":"hello","version":1,"client":"pam_mfa 0.1.0"},
 "req_challenge": {"type":"challenge","user":"ann","context":ctx},
 "req_verify": {"type":"verify","user":"ann","code":"123456","context":{"service":"login","rhost":None,"tty":"tty1"}},
 "req_verify_recovery": {"type":"verify","user":"ann","code":"abcd-efgh-jkmn","context":{}},
 "req_enroll_begin": {"type":"enroll_begin","user":"bob","params":{}},
 "req_enroll_begin_import": {"type":"enroll_begin","user":"bob","params":{"secret":"JBSWY3DPEHPK3PXP","algorithm":"SHA256","digits":8}},
 "req_enroll_confirm": {"type":"enroll_confirm","user":"bob","code":"654321"},
 "req_enroll_confirm_current": {"type":"enroll_confirm","user":"bob","code":"654321","current_code":"111111"},
 "req_status": {"type":"status","user":"ann"},
 "req_remove": {"type":"remove","user":"ann"},
 "req_unlock": {"type":"unlock","user":"\u00e9l\u00e8ve"},
 "req_import": {"type":"import","user":"ann","secret":"7NBHHWUHZV3BCHSWAVAFEJZBJA","algorithm":"SHA1","digits":6,"period":60,"recovery_codes":["51500679","20161382"],"replace":True,"spent_step":58820567},
 "req_verify_scratch": {"type":"verify","user":"ann","code":"5150 0679","context":{}},
}
status = {"type":"status","user":"ann","enrolled":True,"algorithm":"SHA1","digits":6,"recovery_codes_left":10,
          "consecutive_failures":2,"locked":False,"retry_after_secs":30,"enrolled_at":1700000000}
resp = {
 "resp_hello": {"type":"hello","version":1,"server":"mfad 0.1.0"},
 "resp_challenge": {"type":"challenge","state":"ready"},
 "resp_challenge_not_enrolled": {"type":"challenge","state":"not_enrolled"},
 "resp_verified": {"type":"verified","method":"recovery","recovery_codes_left":9},
 "resp_wrong_code": {"type":"wrong_code","retry_after_secs":None},
 "resp_replayed": {"type":"replayed"},
 "resp_rate_limited": {"type":"rate_limited","retry_after_secs":60},
 "resp_locked": {"type":"locked"},
 "resp_enrollment": {"type":"enrollment","secret":"JBSWY3DPEHPK3PXP","uri":"otpauth://totp/pam_mfa:bob@host?secret=JBSWY3DPEHPK3PXP&issuer=pam_mfa","algorithm":"SHA512","digits":8,"period":30,"expires_in_secs":600},
 "resp_enrolled": {"type":"enrolled","recovery_codes":["abcd-efgh-jkmn","pqrs-tuvw-xyz2"]},
 "resp_status": status,
 "resp_done": {"type":"done"},
 "resp_imported": {"type":"imported","user":"ann","replaced":False,"recovery_codes":5,"digits":6,"period":60,"skew":1},
 "resp_error": {"type":"error","code":"permission_denied","message":"not yours"},
}
for name, o in {**req, **resp}.items():
    w(f"frame/{name}", frame(o))
    w(f"body/{name}.json", body(o))
# Frame edge cases.
w("frame/edge_two_frames", frame(req["req_hello"]) + frame(req["req_verify"]))
w("frame/edge_empty_body", struct.pack('>I', 0))
w("frame/edge_bad_json_then_frame", frame(b'{"type":"format_disk"}') + frame(req["req_status"]))
w("frame/edge_truncated_body", struct.pack('>I', 40) + body(req["req_status"])[:10])
w("frame/edge_truncated_prefix", b'\x00\x00')
w("frame/edge_max_prefix", struct.pack('>I', 65536) + b'{')
w("frame/edge_oversize_prefix", struct.pack('>I', 65537) + b'{}')
w("frame/edge_huge_prefix", b'\xff\xff\xff\xff')
# Body edge cases: escapes, defaults, wrong types, duplicates, unknown tag.
w("body/edge_escapes.json", '{"type":"verify","user":"a\\u0000\\ud83d\\ude00\\/","code":"\\"1\\"","context":{"service":"\\t"}}')
w("body/edge_tag_last.json", '{"user":"ann","type":"status"}')
w("body/edge_duplicate.json", '{"type":"status","user":"a","user":"b"}')
w("body/edge_unknown_type.json", '{"type":"format_disk"}')
w("body/edge_big_numbers.json", '{"type":"hello","version":4294967296,"client":""}')
w("body/edge_float_digits.json", '{"type":"enroll_begin","user":"x","params":{"digits":6.0,"algorithm":"sha1"}}')
w("body/edge_whitespace.json", ' \n{ "type" : "done" }\n ')
