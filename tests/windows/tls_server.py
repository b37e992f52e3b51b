"""A TLS server on 127.0.0.1 for scripts/test-windows.sh: Python's ssl module (OpenSSL) with the
given certificate, answering every request with 400 and a small JSON body, so a client that got
through the handshake fails fast with an HTTP error rather than a TLS one.

    python tls_server.py CERT.pem KEY.pem     (prints the port, then serves until killed)
"""

import http.server
import ssl
import sys


class Answer(http.server.BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        body = b'{"error":"invalid_request","error_description":"efm test TLS server"}'
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = answer

    def log_message(self, *args):
        pass


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
