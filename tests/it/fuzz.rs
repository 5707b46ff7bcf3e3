//! A bounded fuzz run of every request decoder, in the suite. Inputs come from a seeded
//! generator (random bytes, deep nesting, long dotted keys, many fields and pairs, and
//! mutations of valid forms, JSON documents, patches, cookies and password hashes):
//!
//! - in-process, through `gatehouse::fuzz` (the same entry points the cargo-fuzz targets in
//!   `fuzz/` call), on a thread with a 1 MiB stack — half of a server worker's — so a walk
//!   whose depth follows the input fails here instead of in production;
//! - over HTTP against a running server: random methods, routes, query strings, headers and
//!   bodies, where every answer must be a Kratos answer (no 5xx; errors as JSON).
//!
//! `GATEHOUSE_FUZZ_SEED` replays a run; `GATEHOUSE_FUZZ_ITERATIONS` makes it longer.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::common::flow::api_flow;

fn seed() -> u64 {
    std::env::var("GATEHOUSE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random)
}

fn iterations(default: usize) -> usize {
    std::env::var("GATEHOUSE_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

const SEEDS: &[&str] = &[
    "method=password&identifier=a%40b.c&password=x&csrf_token=t",
    "method=password&traits.email=a%40b.c&traits.name.first=Ada&traits.age=36&traits.tos=on&traits.tags=a&traits.tags=b&transient_payload.x.y=z",
    "method=profile&traits.email=&traits.name.last=Lovelace",
    r#"{"method":"password","traits":{"email":"a@b.c","name":{"first":"Ada"},"tags":["x"]},"password":"pw","transient_payload":{"a":[1,2,{"b":null}]}}"#,
    r#"{"method":"code","email":"a@b.c","code":"123456"}"#,
    r#"[{"op":"add","path":"/metadata_public/x","value":{"y":[1]}},{"op":"copy","from":"/traits","path":"/metadata_public/t"},{"op":"move","from":"/metadata_public/a","path":"/metadata_admin"},{"op":"remove","path":"/traits/name"},{"op":"test","path":"/schema_id","value":"fuzz"},{"op":"replace","path":"/metadata_public","value":null}]"#,
    "ory_kratos_session=abc; csrf_token_x=\"def\"; a=b",
    "Bearer ory_st_abcdef",
    "application/json, text/html;q=0.9",
    "1h30m0.5s",
    "9223372036854775807ns",
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
    "$pbkdf2-sha256$i=100000,l=32$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA",
    "$scrypt$ln=16,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$firescrypt$ln=14,r=8,p=1$c2FsdA$aGFzaA$c2VwYXJhdG9y$c2lnbmVya2V5",
    "{SSHA}aGFzaGhhc2hoYXNoaGFzaHNhbHQ=",
    "{SHA256}aGFzaA==",
    "$md5$aGFzaA==",
    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
    "$5$rounds=5000$saltsalt$aGFzaGhhc2g",
    "$6$rounds=5000$saltsalt$aGFzaGhhc2g",
    "$hmac-sha256$aGFzaA==$a2V5",
];

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let n = rng.random_range(0..max);
    (0..n).map(|_| rng.random()).collect()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn mutate(rng: &mut StdRng, mut v: Vec<u8>) -> Vec<u8> {
    for _ in 0..rng.random_range(1..8) {
        let len = v.len();
        match rng.random_range(0..6) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                v[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let i = rng.random_range(0..=len);
                let b = *pick(rng, b"{}[]\",:.=&%;$0a\\\x00\xff");
                v.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.random_range(0..len);
                v.remove(i);
            }
            3 if len > 1 => {
                // Repeat a chunk many times: the way small inputs grow deep or wide.
                let a = rng.random_range(0..len);
                let b = rng.random_range(a..len.min(a + 16)) + 1;
                let chunk = v[a..b].to_vec();
                let times = rng.random_range(1..200);
                let at = rng.random_range(0..=v.len());
                let tail = v.split_off(at);
                for _ in 0..times {
                    v.extend_from_slice(&chunk);
                }
                v.extend(tail);
            }
            4 if len > 0 => v.truncate(rng.random_range(0..len)),
            _ => v.extend(random_bytes(rng, 8)),
        }
    }
    v
}

/// One generated input.
fn input(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..9) {
        0 => random_bytes(rng, 512),
        1 => {
            let depth = rng.random_range(0..400);
            let open = pick(
                rng,
                &[
                    "[",
                    "{\"a\":",
                    "{\"traits\":",
                    "[{\"op\":\"add\",\"path\":\"/a\",\"value\":",
                ],
            );
            let mut s = open.repeat(depth);
            s.push('1');
            let close = if open.starts_with('[') { "]" } else { "}" };
            s.push_str(&close.repeat(rng.random_range(0..=depth)));
            s.into_bytes()
        }
        2 => {
            let root = pick(rng, &["traits", "transient_payload", "x", ""]);
            // Now and then as deep as the keys that used to stop the server.
            let segments = if rng.random_bool(0.05) {
                rng.random_range(1_000..60_000)
            } else {
                rng.random_range(0..300)
            };
            format!("method=password&{root}{}=v", ".a".repeat(segments)).into_bytes()
        }
        3 => {
            let n = rng.random_range(0..1_300);
            let sep = pick(rng, &["&", "; "]);
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(sep)
                .into_bytes()
        }
        4 => {
            let n = rng.random_range(0..60);
            let ops: Vec<Value> = (0..n)
                .map(|i| match i % 3 {
                    0 => json!({"op": "copy", "from": "/metadata_public", "path": "/metadata_public/c"}),
                    1 => json!({"op": "copy", "from": "/traits", "path": format!("/metadata_public/t{i}")}),
                    _ => json!({"op": "add", "path": "/metadata_admin", "value": {"a": [i]}}),
                })
                .collect();
            Value::Array(ops).to_string().into_bytes()
        }
        _ => {
            let seed = pick(rng, SEEDS).as_bytes().to_vec();
            mutate(rng, seed)
        }
    }
}

#[test]
fn decoders_hold_their_bounds_on_generated_input() {
    let seed = seed();
    let n = iterations(3_000);
    let run = move || {
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..n {
            let data = input(&mut rng);
            gatehouse::fuzz::decoders(&data);
            gatehouse::fuzz::hash_format(&data);
        }
    };
    let outcome = std::thread::Builder::new()
        .name("fuzz".into())
        .stack_size(1 << 20)
        .spawn(run)
        .unwrap()
        .join();
    assert!(
        outcome.is_ok(),
        "a decoder failed; replay with GATEHOUSE_FUZZ_SEED={seed}"
    );
}

/// Paths on both listeners, with placeholders filled per request.
const PUBLIC: &[&str] = &[
    "/self-service/login/api",
    "/self-service/login/browser",
    "/self-service/registration/api",
    "/self-service/registration/browser",
    "/self-service/recovery/api",
    "/self-service/verification/api",
    "/self-service/settings/api",
    "/self-service/settings/browser",
    "/self-service/login",
    "/self-service/registration",
    "/self-service/recovery",
    "/self-service/verification",
    "/self-service/settings",
    "/self-service/login/flows",
    "/self-service/registration/flows",
    "/self-service/recovery/flows",
    "/self-service/verification/flows",
    "/self-service/settings/flows",
    "/self-service/errors",
    "/self-service/logout/api",
    "/self-service/logout/browser",
    "/self-service/logout",
    "/sessions/whoami",
    "/sessions",
    "/sessions/{id}",
    "/schemas",
    "/schemas/{id}",
    "/health/alive",
];
const ADMIN: &[&str] = &[
    "/admin/identities",
    "/admin/identities/{id}",
    "/admin/identities/{id}/sessions",
    "/admin/identities/{id}/credentials/password",
    "/admin/identities/by/external/{id}",
    "/admin/sessions",
    "/admin/sessions/{id}",
    "/admin/sessions/{id}/extend",
    "/admin/recovery/code",
    "/admin/recovery/link",
    "/admin/courier/messages",
    "/admin/courier/messages/{id}",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_answers_generated_requests_like_kratos() {
    let app = TestApp::start_with(crate::common::Setup {
        yaml: "selfservice:\n  flows:\n    recovery:\n      enabled: true\n    verification:\n      enabled: true\n  methods:\n    password:\n      config:\n        haveibeenpwned_enabled: false\n".into(),
        ..Default::default()
    })
    .await;
    let identity = app
        .create_identity(json!({
            "traits": {"email": "fuzz@example.org"},
            "credentials": {"password": {"config": {"password": "a long enough password"}}}
        }))
        .await;
    // Real ids make generated requests reach the flows, not only the not-found paths.
    let mut ids = vec![identity["id"].as_str().unwrap().to_owned()];
    for kind in ["login", "registration", "recovery", "verification"] {
        let flow = api_flow(&app, kind).await;
        ids.push(flow["id"].as_str().unwrap().to_owned());
    }
    ids.push("not-a-uuid".into());
    ids.push(uuid::Uuid::new_v4().to_string());

    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..iterations(600) {
        let admin = rng.random_bool(0.3);
        let base = if admin { &app.admin } else { &app.public };
        let id = pick(&mut rng, &ids).clone();
        let path = pick(&mut rng, if admin { ADMIN } else { PUBLIC }).replace("{id}", &id);
        let query = match rng.random_range(0..4) {
            0 => String::new(),
            1 => format!("flow={}", pick(&mut rng, &ids)),
            2 => format!("id={}&return_to=http://127.0.0.1/x", pick(&mut rng, &ids)),
            _ => percent_encoding::percent_encode(
                &input(&mut rng),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string()
            .replace("%3D", "=")
            .replace("%26", "&"),
        };
        let url = format!("{base}{path}?{query}");
        let method = pick(
            &mut rng,
            &[
                reqwest::Method::GET,
                reqwest::Method::POST,
                reqwest::Method::PUT,
                reqwest::Method::PATCH,
                reqwest::Method::DELETE,
            ],
        )
        .clone();
        let mut req = client.request(method.clone(), &url);
        for (name, values) in [
            (
                "content-type",
                &[
                    "application/json",
                    "application/x-www-form-urlencoded",
                    "text/plain",
                ][..],
            ),
            ("accept", &["application/json", "text/html", "*/*"][..]),
        ] {
            if rng.random_bool(0.7) {
                req = req.header(name, *pick(&mut rng, values));
            }
        }
        for name in [
            "cookie",
            "x-session-token",
            "authorization",
            "x-csrf-token",
            "origin",
        ] {
            if rng.random_bool(0.15)
                && let Ok(v) = reqwest::header::HeaderValue::from_bytes(&input(&mut rng))
            {
                req = req.header(name, v);
            }
        }
        if method != reqwest::Method::GET {
            req = req.body(input(&mut rng));
        }
        let resp = match req.send().await {
            Ok(r) => r,
            // reqwest refuses some generated URLs itself; the server never saw them.
            Err(e) if e.is_builder() => continue,
            Err(e) => panic!("{method} {url}: {e:?} (GATEHOUSE_FUZZ_SEED={seed})"),
        };
        let status = resp.status().as_u16();
        let location = resp.headers().contains_key("location");
        let body = resp.bytes().await.unwrap();
        assert!(
            status < 500,
            "{method} {url} answered {status}: {} (GATEHOUSE_FUZZ_SEED={seed})",
            String::from_utf8_lossy(&body)
        );
        if (300..400).contains(&status) {
            assert!(location, "{method} {url}: a redirect without Location");
        }
        if status >= 400 {
            let v: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                panic!(
                    "{method} {url} answered {status} with a body that is not JSON: {} (GATEHOUSE_FUZZ_SEED={seed})",
                    String::from_utf8_lossy(&body)
                )
            });
            // A Kratos error envelope, or a flow carrying the messages of a rejected form.
            let envelope = v["error"]["code"] == status;
            let flow = v["ui"].is_object();
            assert!(
                envelope || flow,
                "{method} {url} answered {status}: {v} (GATEHOUSE_FUZZ_SEED={seed})"
            );
        }
    }
    let r = app
        .http
        .get(app.public_url("/health/alive"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
