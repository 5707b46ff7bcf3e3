#!/usr/bin/env python3
"""Gatehouse benchmark driver, started by bench/run (which builds, installs wrk and starts
PostgreSQL). Runs each figure against a ceiling measured in the same run on the same machine,
and writes bench/results/latest.{md,json} plus a dated copy, and the README's table.

Everything talks HTTP on loopback to real `gatehouse serve` processes; load comes from wrk in
separate processes. Python only orchestrates and times the paged listing and the sequential
OpenID Connect sign-ins (through the tests' provider, tests/oidc/provider.mjs).
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import html.parser
import http.client
import http.cookiejar
import json
import os
import platform
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG = os.path.join(HERE, "kratos.yml")
FLOWS_LUA = os.path.join(HERE, "flows.lua")
PASSWORD = "Kx9#mTq2-plover-anvil"
SECRET = "bench-secret-0123456789-abcdefghij"
CONNECTIONS = 64
STORM_CONNECTIONS = 16
BATCH = 1000
# The expensive-hash attack: wrong passwords against imported identities with expensive but
# importable hashes (README, "Password hashing and imported hashes"), from more connections
# than the expensive lane admits (1 verifying + 4 waiting), so some attempts are refused.
EXPENSIVE_IDENTITIES = 4
ATTACK_CONNECTIONS = 8
LATENCY_CLIENTS = 2


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Http:
    """A keep-alive JSON client for one host:port."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def req(self, method, path, body=None, headers=None):
        h = {"Accept": "application/json"}
        if body is not None:
            h["Content-Type"] = "application/json"
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
        h.update(headers or {})
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, r.headers, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise RuntimeError("unreachable")

    def json(self, method, path, body=None, headers=None, expect=(200, 201)):
        status, hdrs, data = self.req(method, path, body, headers)
        if status not in expect:
            raise RuntimeError(f"{method} {path} -> {status}: {data[:300]!r}")
        return json.loads(data) if data else None, hdrs


def rss(pid):
    """(VmRSS, VmHWM) in MiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out.get("VmRSS", 0.0), out.get("VmHWM", 0.0)


# ---------------------------------------------------------------- wrk

def parse_latency(s):
    m = re.match(r"([\d.]+)(us|ms|s)", s)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000.0 if unit == "us" else v * 1000.0 if unit == "s" else v


def wrk(url, duration, connections, threads, headers=(), script=None, script_args=()):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    cmd.append(url)
    if script_args:
        cmd += ["--", *script_args]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # Header values (session tokens, cookies) stay out of the results; a Host header is shown.
    shown = [c.split(":")[0] + ": <redacted>" if c in headers and not c.startswith("Host:") else c
             for c in cmd]
    res = {"cmd": " ".join(shown), "non_2xx": 0, "socket_errors": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = parse_latency(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        res["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["socket_errors"] = sum(int(x) for x in m.groups())
    for key in ("COMPLETED", "ERRORS", "REJECTED", "REFUSED", "DURATION_US"):
        m = re.search(rf"^{key} (\d+)", out, re.M)
        if m:
            res[key.lower()] = int(m.group(1))
    if "completed" in res:
        res["per_s"] = res["completed"] / (res["duration_us"] / 1e6)
    res["raw"] = out
    return res


def start_wrk_background(url, duration, connections, threads, script, script_args):
    result = {}

    def run():
        result.update(wrk(url, duration, connections, threads, script=script, script_args=script_args))

    t = threading.Thread(target=run)
    t.start()
    return t, result


# ---------------------------------------------------------------- servers

class Server:
    def __init__(self, binary, dsn, workdir, migrate, extra_config=None, log_name="gatehouse.log",
                 public_port=None):
        # A tenant's base URL carries the public port, so a tenants config fixes it in advance.
        self.public_port, self.admin_port = public_port or free_port(), free_port()
        env = dict(os.environ)
        env.update({
            "DSN": dsn,
            "SECRETS_DEFAULT": SECRET,
            "SERVE_PUBLIC_PORT": str(self.public_port),
            "SERVE_ADMIN_PORT": str(self.admin_port),
        })
        args = [binary, "serve", "--dev", "-c", CONFIG]
        if extra_config:
            args += ["-c", extra_config]
        if migrate:
            args.append("--migrate")
        self.log = open(os.path.join(workdir, log_name), "w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(args, env=env, cwd=workdir, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        self.public = Http(self.public_port)
        self.admin = Http(self.admin_port)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gatehouse exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if self.admin.req("GET", "/health/ready")[0] == 200:
                    self.ready_s = time.perf_counter() - t0
                    return
            except OSError:
                pass
            # Short, as the time to ready is a figure.
            time.sleep(0.02)
        raise RuntimeError("gatehouse did not become ready")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def hello_server(binary):
    port = free_port()
    p = subprocess.Popen([binary, f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("hello_hyper did not start")


# ---------------------------------------------------------------- seeding

def reference_hash(srv):
    """A PHC hash of PASSWORD made by the server with the configured parameters."""
    ident, _ = srv.admin.json("POST", "/admin/identities", {
        "traits": {"email": "hash-source@bench.test"},
        "credentials": {"password": {"config": {"password": PASSWORD}}},
    })
    full, _ = srv.admin.json("GET", f"/admin/identities/{ident['id']}?include_credential=password")
    return full["credentials"]["password"]["config"]["hashed_password"]


def import_identities(srv, count, hashed, threads=2, headers=None, prefix="user"):
    """`headers` scope the admin requests (X-Gatehouse-Tenant)."""
    bodies = []
    for start in range(0, count, BATCH):
        items = [{"create": {
            "schema_id": "default",
            "traits": {"email": f"{prefix}{i}@bench.test"},
            "credentials": {"password": {"config": {"hashed_password": hashed}}},
        }} for i in range(start, min(start + BATCH, count))]
        bodies.append(json.dumps({"identities": items}).encode())
    errors = []
    lock = threading.Lock()

    def worker(chunks):
        client = Http(srv.admin_port)
        for b in chunks:
            data, _ = client.json("PATCH", "/admin/identities", b, headers)
            bad = [x for x in data["identities"] if x.get("action") != "create"]
            if bad:
                with lock:
                    errors.append(bad[0])

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker, args=(bodies[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"import errors, first: {errors[0]}")
    return {"identities": count, "seconds": elapsed, "per_s": count / elapsed,
            "batch": BATCH, "concurrent_requests": threads}


def list_pages(srv, pages):
    times, path, seen = [], "/admin/identities?page_size=250", 0
    for _ in range(pages):
        t0 = time.perf_counter()
        status, hdrs, data = srv.admin.req("GET", path)
        times.append((time.perf_counter() - t0) * 1000.0)
        if status != 200:
            raise RuntimeError(f"list -> {status}: {data[:200]!r}")
        seen += len(json.loads(data))
        m = re.search(r'<([^>]+)>;\s*rel="next"', hdrs.get("Link", ""))
        if not m:
            break
        u = urllib.parse.urlsplit(m.group(1))
        path = u.path + "?" + u.query
    times.sort()
    return {"pages": len(times), "identities_seen": seen, "page_size": 250,
            "p50_ms": times[len(times) // 2], "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))]}


def api_login(srv, email, headers=None):
    """`headers` pick the tenant (Host)."""
    flow, _ = srv.public.json("GET", "/self-service/login/api", headers=headers)
    done, _ = srv.public.json("POST", f"/self-service/login?flow={flow['id']}",
                              {"method": "password", "identifier": email, "password": PASSWORD},
                              headers)
    return done["session_token"]


def browser_login_cookie(srv, email, headers=None, cookie_name="ory_kratos_session"):
    """The session cookie of a browser (SPA) login: flow, CSRF cookie and token, JSON submit."""
    c = Http(srv.public_port)
    status, hdrs, data = c.req("GET", "/self-service/login/browser", headers=headers)
    flow = json.loads(data)
    cookies = "; ".join(v.split(";")[0] for k, v in hdrs.items() if k.lower() == "set-cookie")
    csrf = next(n["attributes"]["value"] for n in flow["ui"]["nodes"]
                if n["attributes"].get("name") == "csrf_token")
    status, hdrs, data = c.req("POST", f"/self-service/login?flow={flow['id']}", {
        "method": "password", "identifier": email, "password": PASSWORD, "csrf_token": csrf,
    }, {"Cookie": cookies, **(headers or {})})
    if status != 200:
        raise RuntimeError(f"browser login -> {status}: {data[:300]!r}")
    for k, v in hdrs.items():
        if k.lower() == "set-cookie" and v.startswith(f"{cookie_name}="):
            return v.split(";")[0]
    raise RuntimeError(f"no {cookie_name} cookie was set")


def expensive_hash(i):
    """An expensive hash of a password nobody submits: PBKDF2-HMAC-SHA512 at 1,300,000
    iterations (OWASP's figure for PBKDF2-SHA-1, in the costlier SHA-512: about a second) for
    even i, scrypt N=2^17, r=8, p=1 (128 MiB, the scrypt ceiling) for odd i. Both were importable
    before the import ceilings were lowered too. hashlib computes them, so the figure needs no
    extra Python package."""
    secret, salt = f"the real password {i}".encode(), os.urandom(16)
    if i % 2 == 0:
        dk = hashlib.pbkdf2_hmac("sha512", secret, salt, 1_300_000, 64)
        b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
        return f"$pbkdf2-sha512$i=1300000,l=64${b64(salt)}${b64(dk)}"
    dk = hashlib.scrypt(secret, salt=salt, n=1 << 17, r=8, p=1, maxmem=256 << 20, dklen=32)
    b64 = lambda b: base64.b64encode(b).decode()
    return f"$scrypt$ln={1 << 17},r=8,p=1${b64(salt)}${b64(dk)}"


def import_expensive(srv):
    for i in range(EXPENSIVE_IDENTITIES):
        srv.admin.json("POST", "/admin/identities", {
            "traits": {"email": f"expensive{i}@bench.test"},
            "credentials": {"password": {"config": {"hashed_password": expensive_hash(i)}}},
        })


def login_latency(srv, duration, users, clients=LATENCY_CLIENTS):
    """Complete native login flows (start + submit, as in flows.lua) from `clients` threads for
    `duration` seconds; the latency of each whole flow in ms."""
    times, errors, lock = [], [0], threading.Lock()
    stop = time.perf_counter() + duration

    def client(tid):
        c, n = Http(srv.public_port), tid
        while time.perf_counter() < stop:
            n += clients
            t0 = time.perf_counter()
            try:
                flow, _ = c.json("GET", "/self-service/login/api")
                c.json("POST", f"/self-service/login?flow={flow['id']}", {
                    "method": "password", "identifier": f"user{(n * 7) % users}@bench.test",
                    "password": PASSWORD})
            except (RuntimeError, OSError):
                with lock:
                    errors[0] += 1
                continue
            with lock:
                times.append((time.perf_counter() - t0) * 1000.0)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    times.sort()
    if not times:
        return {"logins": 0, "errors": errors[0], "p50_ms": None, "p99_ms": None}
    return {"logins": len(times), "errors": errors[0], "clients": clients,
            "p50_ms": times[len(times) // 2],
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))]}


def totp_code(secret_b32, step):
    """RFC 6238 (HMAC-SHA-1, 6 digits, 30 s steps): the bench's own, not the server's."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    h = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    o = h[-1] & 0x0F
    return f"{(struct.unpack('>I', h[o:o + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def setup_totp(srv, emails, threads=2):
    """Links TOTP to each identity through the native settings flow; returns
    {email: (secret, step)}, the step whose code confirmed it (used up, as for a login)."""
    secrets, lock = {}, threading.Lock()

    def worker(part):
        c = Http(srv.public_port)
        for email in part:
            flow, _ = c.json("GET", "/self-service/login/api")
            done, _ = c.json("POST", f"/self-service/login?flow={flow['id']}",
                             {"method": "password", "identifier": email, "password": PASSWORD})
            auth = {"X-Session-Token": done["session_token"]}
            flow, _ = c.json("GET", "/self-service/settings/api", headers=auth)
            secret = next(n["attributes"]["text"]["text"] for n in flow["ui"]["nodes"]
                          if n["attributes"].get("id") == "totp_secret_key")
            step = int(time.time()) // 30
            c.json("POST", f"/self-service/settings?flow={flow['id']}",
                   {"method": "totp", "totp_code": totp_code(secret, step)}, headers=auth)
            with lock:
                secrets[email] = (secret, step)

    ts = [threading.Thread(target=worker, args=(emails[i::threads],)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return secrets


def password_logins(srv, duration, users, clients=STORM_CONNECTIONS):
    """Complete native password logins driven exactly as `aal2_logins` drives its first step
    (same client, same number of threads): the ceiling the aal2 figure is compared with, so
    the Python client's own cost is on both sides."""
    times, errors, lock = [], [0], threading.Lock()
    start = time.perf_counter()
    stop = start + duration

    def client(tid):
        c, n = Http(srv.public_port), tid
        while time.perf_counter() < stop:
            n += clients
            t0 = time.perf_counter()
            try:
                flow, _ = c.json("GET", "/self-service/login/api")
                c.json("POST", f"/self-service/login?flow={flow['id']}",
                       {"method": "password", "identifier": f"user{(n * 7) % users}@bench.test",
                        "password": PASSWORD})
            except (RuntimeError, OSError):
                with lock:
                    errors[0] += 1
                continue
            with lock:
                times.append((time.perf_counter() - t0) * 1000.0)

    ts = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    return {"logins": len(times), "errors": errors[0], "per_s": len(times) / elapsed}


def aal2_logins(srv, duration, secrets, clients=STORM_CONNECTIONS):
    """Complete password + TOTP logins (native: password flow, aal2 flow with the session token,
    TOTP code) from `clients` threads for `duration` seconds. The server refuses a TOTP step
    used once, so each identity signs in at most once per step; the codes of the current and
    the next step (the server accepts one step of skew) give each identity two logins per 30 s.
    The run ends early if every identity has used both."""
    free = [(e, s, off) for off in (1, 0) for e, (s, _) in secrets.items()]
    # The step that confirmed the secret in settings is used up too.
    used, lock = {(e, step): True for e, (_, step) in secrets.items()}, threading.Lock()
    times, errors = [], [0]
    start = time.perf_counter()
    stop = start + duration

    def take():
        with lock:
            step = int(time.time()) // 30
            while free:
                email, secret, off = free.pop()
                if used.setdefault((email, step + off), False):
                    continue
                used[(email, step + off)] = True
                return email, secret, step + off
        return None

    def client():
        c = Http(srv.public_port)
        while time.perf_counter() < stop:
            slot = take()
            if slot is None:
                return
            email, secret, step = slot
            t0 = time.perf_counter()
            try:
                flow, _ = c.json("GET", "/self-service/login/api")
                done, _ = c.json("POST", f"/self-service/login?flow={flow['id']}",
                                 {"method": "password", "identifier": email, "password": PASSWORD})
                auth = {"X-Session-Token": done["session_token"]}
                flow, _ = c.json("GET", "/self-service/login/api?aal=aal2", headers=auth)
                done, _ = c.json("POST", f"/self-service/login?flow={flow['id']}",
                                 {"method": "totp", "totp_code": totp_code(secret, step)},
                                 headers=auth)
                if done["session"]["authenticator_assurance_level"] != "aal2":
                    raise RuntimeError("the session was not stepped up")
            except (RuntimeError, OSError, KeyError) as e:
                with lock:
                    errors[0] += 1
                    if errors[0] == 1:
                        log(f"aal2 login failed: {e}")
                continue
            with lock:
                times.append((time.perf_counter() - t0) * 1000.0)

    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    elapsed = time.perf_counter() - start
    times.sort()
    return {"logins": len(times), "errors": errors[0], "seconds": elapsed,
            "per_s": len(times) / elapsed if elapsed else 0, "clients": clients,
            "exhausted": not free,
            "p50_ms": times[len(times) // 2] if times else None,
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))] if times else None}


# ---------------------------------------------------------------- OpenID Connect sign-in

# The tests' real OpenID Connect provider (panva's oidc-provider under Node.js; its header
# describes the configuration and the development login and consent forms).
OIDC_PROVIDER = os.path.join(ROOT, "tests", "oidc", "provider.mjs")
OIDC_CLIENT_SECRET = "bench-oidc-client-secret"
# Any loopback port matches at the provider, so the clients are registered before the ports
# are known.
OIDC_REDIRECT = "http://127.0.0.1/self-service/methods/oidc/callback/bench"
# A second client, the bench's own, for the provider's token-endpoint reference time.
OIDC_REFERENCE_REDIRECT = "http://127.0.0.1/bench/reference"
OIDC_CIPHER_SECRET = "bench-cipher-secret-is-32-chars!"
OIDC_MAPPER = """local claims = std.extVar('claims');
{
  identity: {
    traits: {
      [if 'email' in claims && claims.email_verified then 'email' else null]: claims.email,
    },
  },
}
"""


class OidcProvider:
    def __init__(self, node_modules, workdir):
        clients = [{"client_id": cid, "client_secret": OIDC_CLIENT_SECRET, "redirect_uris": [uri],
                    "token_endpoint_auth_method": "client_secret_basic"}
                   for cid, uri in (("gatehouse", OIDC_REDIRECT),
                                    ("bench-reference", OIDC_REFERENCE_REDIRECT))]
        env = dict(os.environ, GATEHOUSE_OIDC_NODE_MODULES=node_modules)
        self.log = open(os.path.join(workdir, "provider.log"), "w")
        # It exits by itself once its stdin closes, so it does not outlive the bench.
        self.proc = subprocess.Popen(["node", OIDC_PROVIDER, json.dumps({"clients": clients})],
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the OpenID Connect provider did not start; see {self.log.name}")
        self.issuer = json.loads(line)["issuer"]
        with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration") as r:
            self.discovery = json.load(r)

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def oidc_provider_version(node_modules):
    with open(os.path.join(node_modules, "oidc-provider", "package.json")) as f:
        version = json.load(f)["version"]
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return f"oidc-provider {version} on Node.js {node}"


def oidc_config(workdir, issuer):
    """The second config file of the OIDC figures' server: the oidc method with one generic
    provider, the cipher for the tokens at rest, and a session right after a sign-up."""
    config = {
        "secrets": {"cipher": [OIDC_CIPHER_SECRET]},
        "ciphers": {"algorithm": "xchacha20-poly1305"},
        "selfservice": {
            "flows": {"registration": {"after": {"oidc": {"hooks": [{"hook": "session"}]}}}},
            "methods": {"oidc": {"enabled": True, "config": {"providers": [{
                "id": "bench",
                "provider": "generic",
                "client_id": "gatehouse",
                "client_secret": OIDC_CLIENT_SECRET,
                "issuer_url": issuer,
                "mapper_url": "base64://" + base64.b64encode(OIDC_MAPPER.encode()).decode(),
                "scope": ["email"],
            }]}}},
        },
    }
    path = os.path.join(workdir, "oidc.json")
    with open(path, "w") as f:
        json.dump(config, f)
    return path


class Browser:
    """A browser: one cookie jar for every port (as browsers do), a keep-alive connection per
    port, redirects not followed."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.conns = {}

    def request(self, method, url, form=None, headers=None):
        u = urllib.parse.urlsplit(url)
        req = urllib.request.Request(url, method=method)
        self.jar.add_cookie_header(req)
        h = dict(req.header_items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        conn = self.conns.get(u.port)
        if conn is None:
            conn = self.conns[u.port] = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request(method, u.path + (f"?{u.query}" if u.query else ""), body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        self.jar.extract_cookies(r, req)
        return r.status, r.headers, data

    def close(self):
        for c in self.conns.values():
            c.close()


class FirstForm(html.parser.HTMLParser):
    """The first <form> of a page: its action and its inputs' names and values."""

    def __init__(self, page):
        super().__init__()
        self.action, self.fields, self.state = None, [], "before"
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and self.state == "before":
            self.action, self.state = a.get("action") or "", "inside"
        elif tag == "input" and self.state == "inside" and a.get("name"):
            self.fields.append((a["name"], a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form" and self.state == "inside":
            self.state = "after"


def walk_provider(b, auth_url, login):
    """Signs in at the provider as `login` (UserAgent::authorize in tests/common/oidc.rs):
    follows its redirects, fills in the development login form, submits consent. Returns the
    callback URL it redirects to, not fetched."""
    origin = urllib.parse.urlsplit(auth_url)[:2]
    url, form = auth_url, None
    for _ in range(20):
        status, hdrs, data = b.request("POST" if form else "GET", url, form)
        if 300 <= status < 400:
            url, form = urllib.parse.urljoin(url, hdrs["Location"]), None
            if urllib.parse.urlsplit(url)[:2] != origin:
                return url
            continue
        page = FirstForm(data.decode(errors="replace"))
        if page.action is None:
            raise RuntimeError(f"the provider answered {status} at {url} without a form: {data[:300]!r}")
        url = urllib.parse.urljoin(url, page.action)
        if urllib.parse.urlsplit(url)[:2] != origin:
            raise RuntimeError(f"the provider answered with a form post to {url}")
        # The dev login form takes a login and any password; consent has only hidden fields.
        form = [(n, login if n == "login" else "any password" if n == "password" else v)
                for n, v in page.fields]
    raise RuntimeError(f"no way back from the provider after 20 steps (last {url})")


def oidc_sign_in(srv, login):
    """A browser signs in with the provider `bench` from a fresh login flow; the milliseconds
    Gatehouse took to answer the provider's redirect back (the callback: code exchange, ID
    token check, identity lookup or sign-up, session) with the session cookie."""
    b = Browser()
    try:
        base = f"http://127.0.0.1:{srv.public_port}"
        status, _, data = b.request("GET", f"{base}/self-service/login/browser",
                                    headers={"Accept": "application/json"})
        flow = json.loads(data)
        csrf = next(n["attributes"]["value"] for n in flow["ui"]["nodes"]
                    if n["attributes"].get("name") == "csrf_token")
        status, hdrs, data = b.request("POST", flow["ui"]["action"],
                                       [("csrf_token", csrf), ("provider", "bench")],
                                       {"Accept": "text/html"})
        if status != 303:
            raise RuntimeError(f"the provider button -> {status}: {data[:300]!r}")
        callback = walk_provider(b, hdrs["Location"], login)
        t0 = time.perf_counter()
        status, hdrs, data = b.request("GET", callback, headers={"Accept": "text/html"})
        ms = (time.perf_counter() - t0) * 1000.0
        if status != 303 or not any(v.startswith("ory_kratos_session=")
                                    for v in hdrs.get_all("Set-Cookie") or ()):
            raise RuntimeError(f"the callback -> {status} without a session: "
                               f"{hdrs.get('Location')} {data[:300]!r}")
        return ms
    finally:
        b.close()


def provider_token_time(idp, login):
    """The provider's own authorization-code exchange as the bench's client sees it: the
    milliseconds of its token endpoint, the part of a callback Gatehouse waits for."""
    b = Browser()
    try:
        auth = idp.discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode({
            "client_id": "bench-reference", "response_type": "code", "scope": "openid email",
            "redirect_uri": OIDC_REFERENCE_REDIRECT, "state": uuid.uuid4().hex,
            "nonce": uuid.uuid4().hex})
        back = walk_provider(b, auth, login)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["code"][0]
        basic = base64.b64encode(f"bench-reference:{OIDC_CLIENT_SECRET}".encode()).decode()
        t0 = time.perf_counter()
        status, _, data = b.request("POST", idp.discovery["token_endpoint"], [
            ("grant_type", "authorization_code"), ("code", code),
            ("redirect_uri", OIDC_REFERENCE_REDIRECT)], {"Authorization": f"Basic {basic}"})
        ms = (time.perf_counter() - t0) * 1000.0
        if status != 200 or "id_token" not in json.loads(data):
            raise RuntimeError(f"the provider's token endpoint -> {status}: {data[:300]!r}")
        return ms
    finally:
        b.close()


def percentiles(times):
    times = sorted(times)
    return {"count": len(times), "p50_ms": times[len(times) // 2],
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))]}


def oidc_figures(name, dsn, args, work):
    """Sequential sign-ins through the local provider against a server on the same database
    with the oidc method: N sign-ups of new subjects (the login hands over to a registration),
    then N sign-ins of the same, now known, subjects; and the provider's token endpoint."""
    idp = OidcProvider(args.oidc_node_modules, work)
    try:
        srv = Server(args.bin, dsn, work, False, oidc_config(work, idp.issuer), "gatehouse-oidc.log")
        try:
            logins = [f"oidc{i}@bench.test" for i in range(args.oidc_sign_ins)]
            return {
                "sign_up": percentiles([oidc_sign_in(srv, l) for l in logins]),
                "sign_in": percentiles([oidc_sign_in(srv, l) for l in logins]),
                "provider_token": percentiles([provider_token_time(idp, l) for l in logins]),
            }
        finally:
            srv.stop()
    finally:
        idp.stop()


# ---------------------------------------------------------------- 100 tenants

TENANTS = 100
# The measured tenant: one in the middle of the list, no overlay of its own.
MEASURED_TENANT = 50
# Identities in the measured tenant, and in a few others so that the tables hold several
# networks' rows; the default network keeps the identities of the figures above.
TENANT_IDENTITIES = 1000
OTHER_SEEDED_TENANTS = (0, 1, 99)
OTHER_TENANT_IDENTITIES = 200
# Session tokens whoami is spread over (the lua script below).
SPREAD_TOKENS = 4
# Rounds of the whoami figures with and without tenants (whoami_rounds).
WHOAMI_ROUNDS = 3
# Tenant 0's overlay: a cookie name of its own (checked by a browser login), so the set is not
# 100 copies of the base configuration.
TENANT0_COOKIE = "t000_session"


def tenant_id(i):
    return f"7e0a0000-0000-4000-8000-{i:012d}"


def tenant_host(i, port):
    return f"t{i:03d}.bench.test:{port}"


def tenants_config(work, port):
    """The second config file of the tenants' server: TENANTS tenants t000..t099, each on its
    own host on the public port."""
    tenants = [{"id": tenant_id(i), "name": f"t{i:03d}",
                "base_url": f"http://{tenant_host(i, port)}/"} for i in range(TENANTS)]
    tenants[0]["config"] = {"session": {"cookie": {"name": TENANT0_COOKIE}}}
    path = os.path.join(work, "tenants.json")
    with open(path, "w") as f:
        json.dump({"tenants": tenants}, f)
    return path


def spread_script(work, key, tokens):
    """A wrk script sending whoami with each of `tokens` in turn (the Host header comes from
    -H). Written into the work dir, so the tokens stay out of the command kept in the results."""
    path = os.path.join(work, f"whoami_spread_{key}.lua")
    with open(path, "w") as f:
        f.write("local tokens = {" + ", ".join(json.dumps(t) for t in tokens) + "}\n"
                "local i = 0\n"
                "function request()\n"
                "  i = i % #tokens + 1\n"
                "  return wrk.format(nil, nil, {[\"X-Session-Token\"] = tokens[i]})\n"
                "end\n")
    return path


def whoami_rounds(servers, work, duration, rounds=WHOAMI_ROUNDS):
    """whoami by one session token (as the whoami-by-token figure) and spread over several, on
    each of `servers` ({key: (srv, tokens, Host header or None)}, all running), in turns: each
    round measures every server once per kind, the order reversed from one round to the next,
    so that what else the machine does weighs on all of them alike. Per server and kind, the
    round with the median req/s, and every round's req/s."""
    scripts = {k: spread_script(work, k, tokens) for k, (_, tokens, _) in servers.items()}
    runs = {(k, kind): [] for k in servers for kind in ("token", "spread")}
    order = list(servers)
    for n in range(rounds):
        for kind in ("token", "spread"):
            for k in (order if n % 2 == 0 else order[::-1]):
                srv, tokens, host = servers[k]
                url = f"http://127.0.0.1:{srv.public_port}/sessions/whoami"
                extra = [f"Host: {host}"] if host else []
                if kind == "token":
                    res = wrk(url, duration, CONNECTIONS, 2,
                              headers=[*extra, f"X-Session-Token: {tokens[0]}"])
                else:
                    res = wrk(url, duration, CONNECTIONS, 2, headers=extra, script=scripts[k])
                if res.get("non_2xx") or res.get("socket_errors"):
                    log(f"WARNING whoami {k} {kind}: non-2xx {res.get('non_2xx')}, socket "
                        f"errors {res.get('socket_errors')}")
                res.pop("raw", None)
                runs[(k, kind)].append(res)
    out = {}
    for (k, kind), rs in runs.items():
        median = sorted(rs, key=lambda x: x["rps"])[len(rs) // 2]
        out[f"{k}_whoami_{kind}"] = {**median, "rounds_rps": [x["rps"] for x in rs],
                                     "non_2xx": sum(x["non_2xx"] for x in rs)}
    return out


def tenant_figures(name, dsn, args, work, hashed, tokens):
    """On the same database, after the figures above: the server as configured (no tenants)
    restarted, for its time to ready and idle RSS there; then, beside it, a server with TENANTS
    tenants declared in its config file: time to ready, idle RSS, identities imported into a few
    tenants through the admin API (X-Gatehouse-Tenant) and sign-ins on the measured tenant's
    host; then whoami on both in turns (whoami_rounds): on the first with the figures' tokens,
    on the second on the measured tenant's host with its tokens."""
    out = {"tenants": TENANTS, "measured": f"t{MEASURED_TENANT:03d}",
           "spread_tokens": SPREAD_TOKENS, "rounds": WHOAMI_ROUNDS,
           "identities": {f"t{i:03d}": TENANT_IDENTITIES if i == MEASURED_TENANT
                          else OTHER_TENANT_IDENTITIES
                          for i in (MEASURED_TENANT, *OTHER_SEEDED_TENANTS)}}
    one = Server(args.bin, dsn, work, False, log_name="gatehouse-restart.log")
    many = None
    try:
        out["one_ready_s"] = one.ready_s
        time.sleep(2)
        out["one_rss_idle_mb"] = rss(one.proc.pid)[0]
        port = free_port()
        many = Server(args.bin, dsn, work, False, tenants_config(work, port),
                      "gatehouse-tenants.log", public_port=port)
        out["ready_s"] = many.ready_s
        time.sleep(2)
        out["rss_idle_mb"] = rss(many.proc.pid)[0]
        log(f"{name}: {TENANTS} tenants ready in {out['ready_s']:.2f} s, idle RSS "
            f"{out['rss_idle_mb']:.1f} MiB; importing into {len(out['identities'])} of them")
        for tname, count in out["identities"].items():
            import_identities(many, count, hashed, headers={"X-Gatehouse-Tenant": tname},
                              prefix=f"{tname}-user")
        measured = {"Host": tenant_host(MEASURED_TENANT, port)}
        mtokens = [api_login(many, f"t{MEASURED_TENANT:03d}-user{i}@bench.test", measured)
                   for i in range(SPREAD_TOKENS)]
        # The setup is what it claims: the measured tenant's session is its own identity, and
        # unknown on its neighbour's host; tenant 0 answers with its overlay's cookie.
        who, _ = many.public.json("GET", "/sessions/whoami", headers={
            **measured, "X-Session-Token": mtokens[0]})
        if who["identity"]["traits"]["email"] != f"t{MEASURED_TENANT:03d}-user0@bench.test":
            raise RuntimeError(f"whoami on the measured tenant: {who}")
        status, _, _ = many.public.req("GET", "/sessions/whoami", headers={
            "Host": tenant_host(MEASURED_TENANT + 1, port), "X-Session-Token": mtokens[0]})
        if status != 401:
            raise RuntimeError(f"the measured tenant's session on another tenant's host -> {status}")
        browser_login_cookie(many, "t000-user0@bench.test", {"Host": tenant_host(0, port)},
                             TENANT0_COOKIE)
        log(f"{name}: whoami on {measured['Host']} with {TENANTS} tenants and on one network, "
            f"in turns ({WHOAMI_ROUNDS} rounds)")
        out.update(whoami_rounds({"one": (one, tokens, None),
                                  "many": (many, mtokens, measured["Host"])}, work, args.duration))
        out["rss_after_mb"] = rss(many.proc.pid)[0]
    finally:
        if many:
            many.stop()
        one.stop()
    return out


# ---------------------------------------------------------------- one backend

def run_backend(name, dsn, args, ceilings, migrate):
    log(f"{name}: starting gatehouse")
    work = tempfile.mkdtemp(prefix=f"gatehouse-bench-{name}-")
    if name == "sqlite":
        dsn = f"sqlite://{work}/bench.sqlite?_fk=true&mode=rwc"
    srv = Server(args.bin, dsn, work, migrate)
    r = {"backend": name}
    try:
        time.sleep(2)
        r["rss_idle_mb"] = rss(srv.proc.pid)[0]
        log(f"{name}: idle RSS {r['rss_idle_mb']:.1f} MiB; importing {args.identities} identities")
        hashed = reference_hash(srv)
        r["import"] = import_identities(srv, args.identities, hashed)
        log(f"{name}: import {r['import']['per_s']:.0f}/s; listing")
        r["list"] = list_pages(srv, args.pages)
        tokens = [api_login(srv, f"user{i}@bench.test") for i in range(4)]
        cookie = browser_login_cookie(srv, "user5@bench.test")
        time.sleep(1)
        r["rss_seeded_mb"] = rss(srv.proc.pid)[0]
        base = f"http://127.0.0.1:{srv.public_port}"
        d = args.duration
        log(f"{name}: /health/alive and whoami")
        r["alive"] = wrk(f"{base}/health/alive", d, CONNECTIONS, 2)
        r["whoami_token"] = wrk(f"{base}/sessions/whoami", d, CONNECTIONS, 2,
                                headers=[f"X-Session-Token: {tokens[0]}"])
        r["whoami_cookie"] = wrk(f"{base}/sessions/whoami", d, CONNECTIONS, 2,
                                 headers=[f"Cookie: {cookie}"])
        log(f"{name}: login and registration throughput")
        users = min(args.identities, 1000)
        r["login"] = wrk(base, d, STORM_CONNECTIONS, 2, script=FLOWS_LUA,
                         script_args=["login", "l", str(users), PASSWORD])
        r["registration"] = wrk(base, d, STORM_CONNECTIONS, 2, script=FLOWS_LUA,
                                script_args=["registration", uuid.uuid4().hex[:8], "1", PASSWORD])
        log(f"{name}: password + TOTP (aal2) logins")
        # Identities past those the login figures use; enough that the run does not run out
        # of unused TOTP steps at the hash-bound rate.
        totp_users = [f"user{users + i}@bench.test"
                      for i in range(min(args.identities - users, 200 if args.quick else 600))]
        r["aal2_login"] = aal2_logins(srv, d, setup_totp(srv, totp_users))
        r["password_login_py"] = password_logins(srv, d, users)
        log(f"{name}: whoami under a login storm")
        storm, storm_res = start_wrk_background(base, d + 2, STORM_CONNECTIONS, 1, FLOWS_LUA,
                                                ["login", "s", str(users), PASSWORD])
        peak = [0.0]
        sampling = [True]

        def sample():
            while sampling[0]:
                try:
                    peak[0] = max(peak[0], rss(srv.proc.pid)[0])
                except OSError:
                    return
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        time.sleep(1)
        r["whoami_storm"] = wrk(f"{base}/sessions/whoami", d, CONNECTIONS, 2,
                                headers=[f"X-Session-Token: {tokens[1]}"])
        storm.join()
        sampling[0] = False
        sampler.join()
        r["storm_login"] = storm_res
        r["rss_storm_peak_mb"] = peak[0]
        r["rss_hwm_mb"] = rss(srv.proc.pid)[1]
        log(f"{name}: ordinary login latency, alone and while expensive imported hashes are attacked")
        import_expensive(srv)
        r["login_alone"] = login_latency(srv, d, users)
        attack, attack_res = start_wrk_background(base, d + 2, ATTACK_CONNECTIONS, 1, FLOWS_LUA,
                                                  ["attack", "a", str(EXPENSIVE_IDENTITIES),
                                                   "not the password"])
        time.sleep(1)
        r["login_attacked"] = login_latency(srv, d, users)
        attack.join()
        r["attack"] = attack_res
        for k in ("login_alone", "login_attacked"):
            if r[k]["errors"]:
                log(f"{name}: WARNING {k}: {r[k]['errors']} failed logins")
        for k in ("alive", "whoami_token", "whoami_cookie", "whoami_storm", "login", "registration",
                  "storm_login", "attack"):
            v = r[k]
            # The attack's answers are 400 (wrong password) or 503 (refused) by design.
            non_2xx = 0 if k == "attack" else v.get("non_2xx")
            if non_2xx or v.get("socket_errors") or v.get("errors"):
                log(f"{name}: WARNING {k}: non-2xx {v.get('non_2xx')}, socket errors "
                    f"{v.get('socket_errors')}, flow errors {v.get('errors')}")
            v.pop("raw", None)
    finally:
        srv.stop()
    log(f"{name}: {TENANTS} tenants against one network (same database)")
    r["tenants"] = tenant_figures(name, dsn, args, work, hashed, tokens)
    # A server of its own, so that the figures above keep their configuration.
    log(f"{name}: OpenID Connect sign-ins through a local provider ({args.oidc_sign_ins} each)")
    r["oidc"] = oidc_figures(name, dsn, args, work)
    # Kept only when something failed (the server logs are in it).
    shutil.rmtree(work, ignore_errors=True)
    r["ceilings"] = ceilings
    return r


# ---------------------------------------------------------------- report

def checks(r, dedicated_mb):
    c = r["ceilings"]
    rows = []

    def add(what, value, ceiling, ratio, target, ok, unit=""):
        rows.append({"figure": what, "value": value, "ceiling": ceiling, "ratio": ratio,
                     "target": target, "pass": bool(ok), "unit": unit})

    alive = r["alive"]["rps"]
    for k, label in (("whoami_token", "whoami by token"), ("whoami_cookie", "whoami by cookie")):
        w = r[k]
        ratio = w["rps"] / alive if alive else 0
        add(f"{label} (req/s, p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms)",
            f"{w['rps']:.0f}", f"/health/alive {alive:.0f}", f"{ratio:.2f}",
            "≥ 0.5×, p99 ≤ 10 ms", ratio >= 0.5 and w["p99_ms"] <= 10 and not w["non_2xx"])
    hello = c["hello_hyper_rps"]
    ratio = alive / hello if hello else 0
    add(f"/health/alive floor (req/s, p99 {r['alive']['p99_ms']:.2f} ms)", f"{alive:.0f}",
        f"hello_hyper {hello:.0f}", f"{ratio:.2f}", "≥ 0.8×", ratio >= 0.8)
    hr = c["hash_rate"]
    for k, label in (("login", "login"), ("registration", "registration")):
        v = r[k]["per_s"]
        ratio = v / hr if hr else 0
        add(f"{label} (completed flows/s)", f"{v:.1f}", f"argon2 {hr:.1f} hashes/s", f"{ratio:.2f}",
            "≥ 0.8×", ratio >= 0.8 and not r[k].get("errors"))
    a2, pw = r["aal2_login"], r["password_login_py"]
    # The TOTP step hashes nothing, so a complete aal2 login should cost about what a password
    # login costs. The ceiling is password logins driven by the same (Python) client, whose
    # own CPU use on this machine then weighs on both sides; the hash bound is shown beside it.
    ratio = a2["per_s"] / pw["per_s"] if pw["per_s"] else 0
    add(f"password + TOTP aal2 login (completed/s, p50 {a2['p50_ms'] or 0:.1f} ms, "
        f"p99 {a2['p99_ms'] or 0:.1f} ms; {a2['per_s'] / hr if hr else 0:.2f}× the argon2 rate)",
        f"{a2['per_s']:.1f}", f"password logins by the same client {pw['per_s']:.1f}/s "
        f"(argon2 {hr:.1f} hashes/s)", f"{ratio:.2f}", "≥ 0.8×",
        ratio >= 0.8 and not a2["errors"] and not pw["errors"])
    alone, storm = r["whoami_token"]["p99_ms"], r["whoami_storm"]["p99_ms"]
    ratio = storm / alone if alone else 0
    add(f"whoami p99 under login storm ({r['storm_login'].get('per_s', 0):.1f} logins/s, "
        f"{r['whoami_storm']['rps']:.0f} whoami/s)", f"{storm:.2f} ms", f"alone {alone:.2f} ms",
        f"{ratio:.2f}", "≤ 3×", ratio <= 3)
    alone, hit, at = r["login_alone"], r["login_attacked"], r["attack"]
    secs = at.get("duration_us", 0) / 1e6 or 1
    ratio = hit["p99_ms"] / alone["p99_ms"] if hit["p99_ms"] and alone["p99_ms"] else 0
    add(f"ordinary login p99 while expensive imported hashes are attacked (p50 "
        f"{hit['p50_ms'] or 0:.1f} ms, {hit['logins']} logins; attack {ATTACK_CONNECTIONS} connections: "
        f"{at.get('rejected', 0) / secs:.1f} wrong passwords/s, {at.get('refused', 0) / secs:.1f} refused/s)",
        f"{hit['p99_ms'] or 0:.1f} ms", f"alone {alone['p99_ms'] or 0:.1f} ms (p50 {alone['p50_ms'] or 0:.1f})",
        f"{ratio:.2f}", "≤ 2×", 0 < ratio <= 2 and not hit["errors"])
    lp = r["list"]
    add(f"listIdentities page of 250 at {r['import']['identities']} identities (p50; p99 {lp['p99_ms']:.1f} ms)",
        f"{lp['p50_ms']:.1f} ms", "—", "—", "≤ 20 ms", lp["p50_ms"] <= 20)
    im = r["import"]
    add("batch import, pre-hashed passwords (identities/s)", f"{im['per_s']:.0f}", "—", "—",
        "≥ 5000/s", im["per_s"] >= 5000)
    # A round trip to a third party has no ceiling of ours: reported, beside the provider's own
    # token endpoint, which every callback waits for.
    o = r["oidc"]
    ref = o["provider_token"]
    for k, label in (("sign_up", "new subject, signs up"), ("sign_in", "known subject")):
        v = o[k]
        add(f"OpenID Connect callback to session, {label} (p50; p99 {v['p99_ms']:.1f} ms, "
            f"{v['count']} sequential sign-ins)", f"{v['p50_ms']:.1f} ms",
            f"provider token endpoint {ref['p50_ms']:.1f} ms (p99 {ref['p99_ms']:.1f})",
            f"{v['p50_ms'] / ref['p50_ms']:.1f}", "(reported)", True)
    add("RSS idle", f"{r['rss_idle_mb']:.1f} MiB", "—", "—", "≤ 40 MiB", r["rss_idle_mb"] <= 40)
    add("RSS after seeding", f"{r['rss_seeded_mb']:.1f} MiB", "—", "—", "(reported)", True)
    bound = dedicated_mb + 100
    add(f"RSS peak during login storm (VmHWM over the run {r['rss_hwm_mb']:.0f} MiB)",
        f"{r['rss_storm_peak_mb']:.1f} MiB", f"dedicated_memory {dedicated_mb} MB", "—",
        f"≤ {bound} MiB", r["rss_storm_peak_mb"] <= bound)
    # Tenants: the same whoami on one of 100 tenants' hosts and on one network, measured in
    # turns on two servers running side by side (whoami_rounds); the whoami-by-token figure
    # above, taken earlier in the run, is shown beside them.
    t = r["tenants"]
    n, host = t["tenants"], t["measured"]
    lat = lambda w: f"p50 {w['p50_ms']:.2f} ms, p99 {w['p99_ms']:.2f} ms"
    rounds = lambda w: "/".join(f"{x:.0f}" for x in w["rounds_rps"])
    early = r["whoami_token"]
    for kind, label in (("token", "by token"),
                        ("spread", f"spread over {t['spread_tokens']} tokens")):
        one, many = t[f"one_whoami_{kind}"], t[f"many_whoami_{kind}"]
        ratio = many["rps"] / one["rps"] if one["rps"] else 0
        ceiling = f"one network beside it {one['rps']:.0f} ({lat(one)}; rounds {rounds(one)})"
        if kind == "token":
            ceiling += (f"; whoami by token above {early['rps']:.0f} ({lat(early)}): "
                        f"{many['rps'] / early['rps'] if early['rps'] else 0:.2f}×")
        add(f"whoami {label} with {n} tenants (on {host}'s host; median of {t['rounds']} rounds "
            f"{rounds(many)} req/s, {lat(many)})", f"{many['rps']:.0f}", ceiling, f"{ratio:.2f}",
            "≥ 0.9× (within 10%)", ratio >= 0.9 and not many["non_2xx"])
    ratio = t["rss_idle_mb"] / r["rss_idle_mb"] if r["rss_idle_mb"] else 0
    add(f"RSS idle with {n} tenants", f"{t['rss_idle_mb']:.1f} MiB",
        f"one network {r['rss_idle_mb']:.1f} MiB (restarted on the seeded database "
        f"{t['one_rss_idle_mb']:.1f} MiB)", f"{ratio:.2f}", "(reported)", True)
    ratio = t["ready_s"] / t["one_ready_s"] if t["one_ready_s"] else 0
    add(f"start-up to ready with {n} tenants (process start to /health/ready 200)",
        f"{t['ready_s']:.2f} s", f"one network {t['one_ready_s']:.2f} s (same database)",
        f"{ratio:.1f}", "(reported)", True)
    return rows


def markdown(report):
    m = report["machine"]
    lines = [
        f"Run {report['date']} on {m['cores']} cores ({m['cpu']}), {m['kernel']}, "
        f"mode {report['mode']}. Load: wrk {report['wrk']['version']} on loopback, "
        f"{report['wrk']['threads']} threads, {CONNECTIONS} connections for whoami and health, "
        f"{STORM_CONNECTIONS} for flows, {report['duration_s']} s per figure. Hashing: "
        f"{report['hashing']}. OpenID Connect: sequential browser sign-ins through "
        f"{report['oidc_provider']} (tests/oidc/provider.mjs) on loopback. Ceilings are measured "
        "in the same run.",
        "",
    ]
    if report.get("note"):
        lines += [f"Note: {report['note']}", ""]
    for r in report["backends"]:
        lines += [f"**{r['backend']}**", "",
                  "| figure | value | ceiling | ratio | target | |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for row in r["checks"]:
            mark = "pass" if row["pass"] else "**miss**"
            lines.append(f"| {row['figure']} | {row['value']} | {row['ceiling']} | {row['ratio']} | "
                         f"{row['target']} | {mark} |")
        lines.append("")
    return "\n".join(lines)


def update_readme(md):
    path = os.path.join(ROOT, "README.md")
    text = open(path).read()
    start, end = "<!-- bench:start -->", "<!-- bench:end -->"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        open(path, "w").write(f"{head}{start}\n{md}\n{end}{tail}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--hello", required=True)
    ap.add_argument("--pg-url", help="PostgreSQL server URL (database part is replaced)")
    ap.add_argument("--mysql-url", help="MySQL/MariaDB server URL (database part is replaced)")
    ap.add_argument("--mysql-socket", help="the MySQL server's socket, for the mariadb client")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--note", help="a remark on the run's conditions, kept in the results")
    ap.add_argument("--oidc-node-modules", required=True,
                    help="node_modules with oidc-provider (npm ci of tests/oidc)")
    args = ap.parse_args()
    args.bin, args.hello = os.path.abspath(args.bin), os.path.abspath(args.hello)
    args.identities = 10_000 if args.quick else 100_000
    args.pages = 20 if args.quick else 100
    args.duration = 3 if args.quick else 10
    args.oidc_sign_ins = 40 if args.quick else 150
    cores = os.cpu_count()

    log("ceilings: hello_hyper and the raw argon2 hash rate")
    hp, hport = hello_server(args.hello)
    try:
        hello = wrk(f"http://127.0.0.1:{hport}/", args.duration, CONNECTIONS, 2)
    finally:
        hp.terminate()
        hp.wait()
    lt = subprocess.run([args.bin, "hashers", "argon2", "load-test", "-c", CONFIG,
                         "--duration", f"{args.duration}s"], capture_output=True, text=True, check=True)
    m = re.search(r"([\d.]+) hashes/s on (\d+) thread", lt.stdout)
    ceilings = {"hello_hyper_rps": hello["rps"], "hello_hyper_p99_ms": hello["p99_ms"],
                "hash_rate": float(m.group(1)), "hash_threads": int(m.group(2))}
    log(f"hello_hyper {hello['rps']:.0f} req/s; argon2 {ceilings['hash_rate']:.1f} hashes/s")

    results = []
    for name in args.backends.split(","):
        if name == "postgres":
            if not args.pg_url:
                log("postgres: skipped (no --pg-url)")
                continue
            db = f"bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["psql", args.pg_url, "-qc", f"CREATE DATABASE {db}"], check=True)
            head = args.pg_url.rsplit("/", 1)[0]
            results.append(run_backend(name, f"{head}/{db}?sslmode=disable", args, ceilings, True))
        elif name == "mysql":
            if not args.mysql_url:
                log("mysql: skipped (no --mysql-url)")
                continue
            db = f"bench_{uuid.uuid4().hex[:8]}"
            subprocess.run(["mariadb", f"--socket={args.mysql_socket}", "-uroot", "-e",
                            f"CREATE DATABASE {db}"], check=True)
            head = args.mysql_url.rsplit("/", 1)[0]
            results.append(run_backend(name, f"{head}/{db}", args, ceilings, True))
        else:
            results.append(run_backend(name, None, args, ceilings, False))

    dedicated_mb = 64
    for r in results:
        r["checks"] = checks(r, dedicated_mb)
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip()
    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mode": "quick" if args.quick else "full",
        "machine": {"cores": cores, "cpu": cpu, "kernel": platform.release()},
        "wrk": {"version": wrk_version, "threads": 2, "connections": CONNECTIONS,
                "flow_connections": STORM_CONNECTIONS},
        "duration_s": args.duration,
        "hashing": "argon2id 19 MiB, 2 iterations, 1 lane, dedicated_memory 64 MB (bench/kratos.yml)",
        "oidc_provider": oidc_provider_version(args.oidc_node_modules),
        "backends": results,
    }
    if args.note:
        report["note"] = args.note
    md = markdown(report)
    out = os.path.join(HERE, "results")
    os.makedirs(out, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    for name in ("latest", f"{stamp}-{report['mode']}"):
        with open(os.path.join(out, f"{name}.json"), "w") as f:
            json.dump(report, f, indent=2)
        with open(os.path.join(out, f"{name}.md"), "w") as f:
            f.write(md + "\n")
    if not args.quick and not args.no_readme:
        update_readme(md)
    print(md)


if __name__ == "__main__":
    main()
