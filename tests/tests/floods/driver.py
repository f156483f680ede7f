import ctypes, json, os, sys, time
def summary(reports):
    out = {"users": len(reports), "errors": [r["error"] for r in reports if "error" in r]}
    for r in reports:
        for key, v in r.items():
            if isinstance(v, (int, float)):
                out[key] = out.get(key, 0) + v
            elif key != "error" and v:
                out.setdefault(key, []).append(v)
    return out
def run_as_users(first_uid, count, child):
    stop_r, stop_w = os.pipe()
    report_r, report_w = os.pipe()
    kids = []
    for i in range(count):
        pid = os.fork()
        if pid:
            kids.append(pid)
            continue
        uid = first_uid + i
        try:
            os.close(stop_w); os.close(report_r)
            os.setgroups([]); os.setgid(uid); os.setuid(uid)
            ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG after setuid, which clears it
            ready = lambda **counts: os.write(report_w, (json.dumps(counts) + "\n").encode())
            report = child(uid, ready, stop_r)
        except Exception as e:
            report = {"error": "uid %d: %r" % (uid, e)}
        os.write(report_w, (json.dumps(report) + "\n").encode())
        os._exit(0)
    os.close(stop_r); os.close(report_w)
    reports = os.fdopen(report_r)
    print(json.dumps(summary([json.loads(reports.readline()) for _ in kids])), flush=True)
    started = time.monotonic()
    sys.stdin.read()
    os.close(stop_w)
    last = [json.loads(line) for line in reports]
    for k in kids:
        os.waitpid(k, 0)
    print(json.dumps(dict(summary(last), seconds=time.monotonic() - started)), flush=True)
