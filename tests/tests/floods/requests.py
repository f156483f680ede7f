import select, socket, struct
path, targets = sys.argv[1], sys.argv[2].split(",")
def frame(body):
    return struct.pack(">I", len(body)) + body
def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("mfad closed the connection")
        buf += chunk
    return buf
def recv_frame(s):
    return recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
def child(uid, ready, stop):
    fixed = [frame(b'{"type":"status","user":"root"}')]
    for t in targets:
        fixed.append(frame(b'{"type":"verify","user":"%s","code":"123456","context":{"service":"sshd"}}' % t.encode()))
        fixed.append(frame(b'{"type":"challenge","user":"%s","context":{"service":"sshd"}}' % t.encode()))
        fixed.append(frame(b'{"type":"enroll_begin","user":"%s","params":{}}' % t.encode()))
    conns = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(frame(b'{"type":"hello","version":1,"client":"flood"}'))
        hello = recv_frame(s)
        if b'"hello"' not in hello:
            raise RuntimeError("hello answered with %r" % hello)
        conns.append(s)
    ready(connections=len(conns))
    sent = answered = denied = closed = 0
    other = ""
    def request():
        nonlocal sent
        sent += 1
        if sent % 4 == 0:
            return frame(b'{"type":"status","user":"n%d_%d"}' % (uid, sent))
        return fixed[sent % len(fixed)]
    for s in conns:
        s.sendall(request())
    deadline = time.monotonic() + 60
    while conns and time.monotonic() < deadline:
        readable, _, _ = select.select(conns + [stop], [], [], 1.0)
        if stop in readable:
            break
        for s in readable:
            try:
                body = recv_frame(s)
                answered += 1
                if b'"permission_denied"' in body:
                    denied += 1
                elif not other:
                    other = body[:300].decode("utf-8", "replace")
                s.sendall(request())
            except (OSError, EOFError):
                closed += 1
                conns.remove(s)
    return {"answered": answered, "denied": denied, "closed": closed, "other": other}
run_as_users(40000, 30, child)
