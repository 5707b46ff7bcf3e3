// A real OpenID Connect provider for Gatehouse's tests: panva's oidc-provider on 127.0.0.1, with
// its development login and consent forms, so a test signs in as anyone by login name.
//
// Usage: node provider.mjs '<config JSON>'   (or the JSON in GATEHOUSE_OIDC_CONFIG)
//   {"clients": [oidc-provider client metadata, …], "pkce_required": false,
//    "claims": {scope: [claim, …]} (replaces the scope → claims map below)}
// The npm package is loaded from GATEHOUSE_OIDC_NODE_MODULES (a node_modules folder made by
// `npm ci` from this folder's package.json), else from ./node_modules beside this file.
//
// Prints one JSON line on stdout once listening: {"issuer", "jwks_uri", "port"}. Serves until
// stdin closes (the test process that spawned it is gone) or it is killed.
//
// Accounts: `sub` is the login name. Claims: email `<login>` if it has an '@', else
// `<login>@example.test`, email_verified true, name, given_name, family_name. Markers in the
// login change that: `+noemail` (no email), `+unverified` (email_verified false), `+noname` (no
// names); they stay part of `sub` but not of the email (`alice+unverified` → alice@example.test).
//
// Test-only endpoints on the same server:
//   PUT  /test/accounts/<login>  JSON object of claims merged over the defaults (null removes one)
//   POST /test/id-token[?key=foreign]  JSON claims → {"id_token"}: an ID token signed with the
//        provider's current key (or one it never published), defaults iss, aud (the first
//        client), iat, exp (+10 min); any claim may be overridden, e.g. an exp in the past
//   POST /test/rotate-key  → {"kid"}: a new key, published in the JWKS, signs minted tokens from
//        now on (the code flow's ID tokens keep the provider's first key)

import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// stdout carries only the one JSON line: the library's notices go to stderr with its warnings.
console.info = console.error;
console.log = console.error;

const here = dirname(fileURLToPath(import.meta.url));
const modules = process.env.GATEHOUSE_OIDC_NODE_MODULES || join(here, 'node_modules');
const { default: Provider } = await import(
  pathToFileURL(join(modules, 'oidc-provider', 'lib', 'index.js')).href
);

const config = JSON.parse(process.argv[2] || process.env.GATEHOUSE_OIDC_CONFIG || '{}');
const clients = config.clients || [];

function newKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { privateKey, jwk: { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' } };
}
const publicJwk = ({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use });

// The provider's own key signs the code flow's ID tokens; minting uses `mintKey`, which starts
// as the same key and moves to a new one on rotation. `foreignKey` is never published.
const providerKey = newKey();
let mintKey = providerKey;
const published = [providerKey];
const foreignKey = newKey();

const overrides = new Map();

function accountClaims(login) {
  const markers = new Set(login.match(/\+(noemail|unverified|noname)/g) || []);
  const base = login.replace(/\+(noemail|unverified|noname)/g, '');
  const local = base.split('@')[0];
  const claims = { sub: login };
  if (!markers.has('+noemail')) {
    claims.email = base.includes('@') ? base : `${base}@example.test`;
    claims.email_verified = !markers.has('+unverified');
  }
  if (!markers.has('+noname')) {
    claims.given_name = local;
    claims.family_name = 'Tester';
    claims.name = `${local} Tester`;
  }
  for (const [k, v] of Object.entries(overrides.get(login) || {})) {
    if (v === null) delete claims[k];
    else claims[k] = v;
  }
  return claims;
}

const b64url = (data) => Buffer.from(data).toString('base64url');
function mint(claims, key) {
  const header = { alg: 'RS256', typ: 'JWT', kid: key.jwk.kid };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${sign('sha256', Buffer.from(input), key.privateKey).toString('base64url')}`;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

let provider;
let issuer;

async function testEndpoint(req, res, url) {
  if (req.method === 'PUT' && url.pathname.startsWith('/test/accounts/')) {
    const login = decodeURIComponent(url.pathname.slice('/test/accounts/'.length));
    overrides.set(login, JSON.parse((await readBody(req)) || '{}'));
    return json(res, 200, accountClaims(login));
  }
  if (req.method === 'POST' && url.pathname === '/test/id-token') {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer,
      aud: clients[0]?.client_id,
      iat: now,
      exp: now + 600,
      ...JSON.parse((await readBody(req)) || '{}'),
    };
    const key = url.searchParams.get('key') === 'foreign' ? foreignKey : mintKey;
    return json(res, 200, { id_token: mint(claims, key) });
  }
  if (req.method === 'POST' && url.pathname === '/test/rotate-key') {
    mintKey = newKey();
    published.push(mintKey);
    return json(res, 200, { kid: mintKey.jwk.kid });
  }
  return json(res, 404, { error: 'not_found' });
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url, issuer);
    if (url.pathname.startsWith('/test/')) return await testEndpoint(req, res, url);
    // Served here rather than by the provider so that rotated (minted-only) keys appear too.
    if (req.method === 'GET' && url.pathname === '/jwks') {
      return json(res, 200, { keys: published.map((k) => publicJwk(k.jwk)) });
    }
    return provider.callback()(req, res);
  } catch (err) {
    return json(res, 500, { error: 'server_error', error_description: String(err) });
  }
});

await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address();
issuer = `http://127.0.0.1:${port}`;

provider = new Provider(issuer, {
  clients: clients.map((c) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    ...c,
  })),
  jwks: { keys: [providerKey.jwk] },
  cookies: { keys: [createHash('sha256').update(randomUUID()).digest('hex')] },
  // Claims come in the ID token as well as from userinfo, as Kratos's tests expect.
  conformIdTokenClaims: false,
  claims: config.claims || {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'given_name', 'family_name', 'preferred_username', 'picture', 'locale'],
  },
  features: {
    devInteractions: { enabled: true },
    claimsParameter: { enabled: true },
  },
  pkce: { required: () => Boolean(config.pkce_required) },
  // Refresh tokens whenever the client may use them, without asking for offline_access.
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(_ctx, sub) {
    return { accountId: sub, claims: async () => accountClaims(sub) };
  },
});

// Loopback redirect URIs match on any port (RFC 8252 §7.3) for every client, not only native
// ones: a test registers its client before the relying party has picked its ephemeral port.
const allowed = provider.Client.prototype.redirectUriAllowed;
const withoutPort = (uri) => {
  const u = URL.parse(uri);
  if (!u || u.protocol !== 'http:' || u.hostname !== '127.0.0.1') return undefined;
  u.port = '';
  return u.href;
};
provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  if (allowed.call(this, value)) return true;
  const stripped = withoutPort(value);
  return stripped !== undefined && this.redirectUris.some((r) => withoutPort(r) === stripped);
};

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
process.stdout.write(`${JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, port })}\n`);
