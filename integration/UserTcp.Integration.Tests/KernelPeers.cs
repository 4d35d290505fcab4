namespace UserTcp.Integration.Tests;

/// <summary>Small kernel-side programs (python3, bash) the tests run inside the namespace as UserTcp's peers.</summary>
internal static class KernelPeers
{
    /// <summary>
    /// python3 -c ListenBothWays PORT SIZE: accepts one connection on 0.0.0.0:PORT; sends SIZE bytes (seeded random)
    /// while it reads until end of stream; then prints "received N SHA256" and "sent N SHA256", and closes.
    /// </summary>
    public const string ListenBothWays = """
        import hashlib, random, socket, sys, threading
        port, size = int(sys.argv[1]), int(sys.argv[2])
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(1)
        print("listening", flush=True)
        conn, _ = server.accept()
        sent = {}
        def send():
            digest, rng, left = hashlib.sha256(), random.Random(7), size
            while left:
                chunk = rng.randbytes(min(65536, left))
                digest.update(chunk)
                conn.sendall(chunk)
                left -= len(chunk)
            conn.shutdown(socket.SHUT_WR)
            sent["hash"] = digest.hexdigest()
        sender = threading.Thread(target=send)
        sender.start()
        digest, received = hashlib.sha256(), 0
        while True:
            data = conn.recv(65536)
            if not data:
                break
            digest.update(data)
            received += len(data)
        sender.join()
        print("received", received, digest.hexdigest(), flush=True)
        print("sent", size, sent["hash"], flush=True)
        conn.close()
        """;

    /// <summary>python3 -c ListenAndStall PORT: accepts one connection, prints "accepted", and never reads.</summary>
    public const string ListenAndStall = """
        import socket, sys, time
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", int(sys.argv[1])))
        server.listen(1)
        print("listening", flush=True)
        conn, _ = server.accept()
        print("accepted", flush=True)
        time.sleep(60)
        """;

    /// <summary>
    /// python3 -c ReadThenHold HOST PORT: connects, reads until end of stream, prints "line TEXT" and "eof", keeps the
    /// socket open (CLOSE-WAIT) until a line arrives on stdin, then closes and prints "closed".
    /// </summary>
    public const string ReadThenHold = """
        import socket, sys
        s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
        print("local", "%s:%d" % s.getsockname(), flush=True)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        print("line", data.decode("ascii").strip(), flush=True)
        print("eof", flush=True)
        sys.stdin.readline()
        s.close()
        print("closed", flush=True)
        """;

    /// <summary>python3 -c EchoOnce HOST PORT: accepts one connection on HOST:PORT, echoes it until end of stream, closes.</summary>
    public const string EchoOnce = """
        import socket, sys
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2])))
        server.listen(1)
        print("listening", flush=True)
        conn, _ = server.accept()
        while True:
            data = conn.recv(4096)
            if not data:
                break
            conn.sendall(data)
        conn.close()
        """;

    /// <summary>python3 -c EchoEvery HOST PORT: accepts connections on HOST:PORT and echoes each until its end of stream.</summary>
    public const string EchoEvery = """
        import socket, sys, threading
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((sys.argv[1], int(sys.argv[2])))
        server.listen(128)
        print("listening", flush=True)
        def echo(conn):
            while True:
                data = conn.recv(4096)
                if not data:
                    break
                conn.sendall(data)
            conn.close()
        while True:
            conn, _ = server.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()
        """;
}
