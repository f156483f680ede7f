import socket
path, mode = sys.argv[1], sys.argv[2]
def child(uid, ready, stop):
    os.set_blocking(stop, False)
    ready()
    tried = connected = full = 0
    while True:
        if tried % 256 == 0:
            try:
                if os.read(stop, 1) == b"":
                    break
            except BlockingIOError:
                pass
        tried += 1
        if mode == "burn":
            continue
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
            connected += 1
        except BlockingIOError:
            full += 1
        except OSError:
            pass
        s.close()
    return {"tried": tried, "connected": connected, "full": full}
run_as_users(40100, 4, child)
