"""A rogue node for the hostile-peer tests, run as its own OS process.

``python roguepeer.py HEX`` listens on 127.0.0.1 (a free port, printed on the first line of
stdout), and answers every connection with the bytes ``HEX`` stands for, whatever the
dialler says; then it reads until the dialler closes, and prints ``closed``. It stops when
its stdin closes.
"""

import socket
import sys
import threading


def _serve(listener: socket.socket, answer: bytes) -> None:
    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                conn.recv(65536)  # the dialler's hello: ignored
                conn.sendall(answer)
                while conn.recv(65536):
                    pass
            except OSError:
                pass
        print("closed", flush=True)


def main() -> None:
    answer = bytes.fromhex(sys.argv[1])
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    threading.Thread(target=_serve, args=(listener, answer), daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin (or dies)


if __name__ == "__main__":
    main()
