use std::io::Write;
use std::path::PathBuf;

use super::*;

/// Temporary config files removed on drop; avoids a tempfile dependency.
struct Files(Vec<PathBuf>);

impl Files {
    fn new(contents: &[&str]) -> Self {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let paths = contents
            .iter()
            .map(|text| {
                let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path = std::env::temp_dir()
                    .join(format!("gatehouse-cfg-{}-{n}.yml", std::process::id()));
                let mut f = std::fs::File::create(&path).unwrap();
                f.write_all(text.as_bytes()).unwrap();
                path
            })
            .collect();
        Self(paths)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn load_yaml(docs: &[&str], env: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let files = Files::new(docs);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    load(&files.0, &env)
}

fn err(docs: &[&str], env: &[(&str, &str)]) -> String {
    load_yaml(docs, env).unwrap_err().to_string()
}

#[test]
fn empty_input_gives_kratos_defaults() {
    let loaded = load(&[], &[]).unwrap();
    let c = &loaded.config;
    assert!(loaded.unsupported.is_empty());
    assert!(loaded.sources.is_empty());
    assert_eq!(c.dsn, DEFAULT_DSN);
    assert_eq!(c.identity.default_schema_id, "default");
    assert_eq!(c.identity.schemas[0].url, DEFAULT_SCHEMA_URL);
    assert_eq!(c.serve.public.port, 4433);
    assert_eq!(c.serve.admin.port, 4434);
    assert_eq!(c.serve.public.host, "0.0.0.0");
    assert_eq!(c.serve.public.cors.allowed_origins, ["*"]);
    assert!(c.serve.public.cors.allow_credentials);
    assert_eq!(c.serve.public.cors.allowed_headers.len(), 6);
    assert_eq!(c.hashers.algorithm, HashAlgorithm::Argon2);
    assert_eq!(c.hashers.bcrypt.cost, 12);
    assert_eq!(c.hashers.argon2.memory.as_bytes(), 128 * 1024 * 1024);
    assert_eq!(c.hashers.argon2.dedicated_memory.to_string(), "1GB");
    assert_eq!(c.hashers.argon2.expected_duration.to_string(), "500ms");
    assert!(c.hashers.argon2.parallelism >= 2);
    assert_eq!(c.ciphers.algorithm, CipherAlgorithm::Noop);
    assert_eq!(c.log.level, LogLevel::Info);
    assert_eq!(
        c.session.lifespan.get(),
        std::time::Duration::from_secs(86_400)
    );
    assert_eq!(c.session.cookie.name, "ory_kratos_session");
    assert!(c.session.cookie.persistent);
    assert_eq!(c.cookies.same_site, SameSite::Lax);
    assert_eq!(c.cookies.path, "/");
    let flows = &c.selfservice.flows;
    assert_eq!(
        flows.login.ui_url,
        "https://www.ory.com/kratos/docs/fallback/login"
    );
    assert_eq!(
        flows.settings.privileged_session_max_age.to_string(),
        "1h0m0s"
    );
    assert!(flows.registration.enabled && !flows.recovery.enabled && !flows.verification.enabled);
    assert_eq!(flows.recovery.use_, FlowStrategy::Code);
    assert_eq!(flows.registration.style, RegistrationStyle::ProfileFirst);
    let m = &c.selfservice.methods;
    assert!(m.password.enabled && m.code.enabled && m.profile.enabled && !m.totp.enabled);
    assert_eq!(m.password.config.min_password_length, 8);
    assert!(m.password.config.haveibeenpwned_enabled);
    assert_eq!(m.code.config.max_submissions, 5);
    assert_eq!(c.courier.message_retries, 5);
    assert_eq!(c.courier.smtp.from_address, "no-reply@ory.kratos.sh");
    assert_eq!(c.courier.worker.pull_wait.to_string(), "1s");
    assert_eq!(c.database.cleanup.batch_size, 100);
    assert_eq!(c.clients.web_hook.header_allowlist.len(), 17);
    assert_eq!(c.serve.public.socket.mode, 493);
    assert_eq!(c.expose_metrics_port, 0);
}

#[test]
fn later_files_override_earlier_ones() {
    let base = "serve:\n  public:\n    port: 1111\n    host: 10.0.0.1\nlog:\n  level: debug\n  format: json\n\
                secrets:\n  default: [first-secret-0123456789, second-secret-0123456789]\n";
    let over = "serve:\n  public:\n    port: 2222\nlog:\n  level: error\nsecrets:\n  default: [only-secret-0123456789]\n";
    let c = load_yaml(&[base, over], &[]).unwrap();
    assert_eq!(c.sources.len(), 2);
    let c = c.config;
    assert_eq!(c.serve.public.port, 2222);
    assert_eq!(c.serve.public.host, "10.0.0.1", "maps merge deeply");
    assert_eq!(c.log.level, LogLevel::Error);
    assert_eq!(c.log.format, Some(LogFormat::Json));
    assert_eq!(
        c.secrets.default,
        ["only-secret-0123456789"],
        "arrays are replaced"
    );
}

#[test]
fn json_files_load_too() {
    let c = load_yaml(
        &[r#"{"dsn": "memory", "serve": {"admin": {"port": 9000}}}"#],
        &[],
    )
    .unwrap();
    assert_eq!(c.config.dsn, "memory");
    assert_eq!(c.config.serve.admin.port, 9000);
}

#[test]
fn env_overrides_files_and_coerces_types() {
    let file = "serve:\n  public:\n    port: 1111\nlog:\n  level: info\n";
    let env = [
        ("PATH", "/usr/bin"),
        ("HOME", "/root"),
        ("SELFSERVICE_FLOWS_LOGIN_UI_URL", "http://ui.test/login"),
        ("SERVE_PUBLIC_PORT", "4455"),
        ("SECRETS_COOKIE", r#"["a-very-long-secret-1"]"#),
        (
            "SECRETS_DEFAULT",
            "a-very-long-secret-2, a-very-long-secret-3",
        ),
        ("LOG_LEVEL", "trace"),
        ("SERVE_PUBLIC_CORS_ENABLED", "true"),
        ("SERVE_PUBLIC_CORS_ALLOWED_METHODS", "GET,POST"),
        // Credentials (the default) need listed origins, not the default `*`.
        (
            "SERVE_PUBLIC_CORS_ALLOWED_ORIGINS",
            "https://app.example.com",
        ),
        ("HASHERS_ARGON2_MEMORY", "64KiB"),
        ("HASHERS_ARGON2_ITERATIONS", "3"),
        ("SESSION_LIFESPAN", "2h"),
        ("IDENTITY_DEFAULT_SCHEMA_ID", "customer"),
        (
            "IDENTITY_SCHEMAS",
            r#"[{"id":"customer","url":"file://c.json"}]"#,
        ),
        ("SELFSERVICE_METHODS_WEBAUTHN_ENABLED", "1"),
        ("OAUTH2_PROVIDER_URL", "http://hydra.test"),
        ("SQA_OPT_OUT", "true"),
        ("COURIER_SMTP_HEADERS", r#"{"X-Env":"yes"}"#),
    ];
    let loaded = load_yaml(&[file], &env).unwrap();
    let c = &loaded.config;
    assert_eq!(c.selfservice.flows.login.ui_url, "http://ui.test/login");
    assert_eq!(c.serve.public.port, 4455);
    assert_eq!(c.secrets.cookie, ["a-very-long-secret-1"]);
    assert_eq!(
        c.secrets.default,
        ["a-very-long-secret-2", "a-very-long-secret-3"]
    );
    assert_eq!(c.cookie_secrets(), ["a-very-long-secret-1"]);
    assert_eq!(c.log.level, LogLevel::Trace);
    assert!(c.serve.public.cors.enabled);
    assert_eq!(
        c.serve.public.cors.allowed_methods,
        [HttpMethod::Get, HttpMethod::Post]
    );
    assert_eq!(c.hashers.argon2.memory.as_kib(), 64);
    assert_eq!(c.hashers.argon2.iterations, 3);
    assert_eq!(c.session.lifespan.to_string(), "2h0m0s");
    assert_eq!(c.identity.default_schema_id, "customer");
    assert!(c.selfservice.methods.webauthn.enabled);
    assert!(c.sqa_opt_out);
    assert_eq!(c.courier.smtp.headers["X-Env"], "yes");
    assert!(
        loaded
            .unsupported
            .iter()
            .any(|k| k.starts_with("oauth2_provider")),
        "{:?}",
        loaded.unsupported
    );
    assert!(!loaded.unsupported.contains(&"courier".to_owned()));
}

#[test]
fn env_can_address_array_elements() {
    let file = "identity:\n  schemas:\n    - id: default\n      url: file://a.json\n";
    let env = [
        ("IDENTITY_SCHEMAS_0_URL", "file://b.json"),
        ("IDENTITY_SCHEMAS_1_ID", "second"),
    ];
    let c = load_yaml(&[file], &env);
    // Element 1 gets an id but no url, which is an error naming that element.
    assert_eq!(
        c.unwrap_err().to_string(),
        "identity.schemas[1]: missing field `url`"
    );
    let c = load_yaml(&[file], &env[..1]).unwrap().config;
    assert_eq!(c.identity.schemas[0].url, "file://b.json");
}

#[test]
fn env_values_that_do_not_fit_are_reported_against_the_key() {
    let e = err(&[], &[("SERVE_PUBLIC_PORT", "abc")]);
    assert_eq!(
        e,
        "serve.public.port: invalid type: string \"abc\", expected u16"
    );
}

#[test]
fn type_errors_name_the_key_path() {
    let e = err(&["serve:\n  public:\n    port: abc\n"], &[]);
    assert_eq!(
        e,
        "serve.public.port: invalid type: string \"abc\", expected u16"
    );
    let e = err(&["serve:\n  admin:\n    port: 70000\n"], &[]);
    assert!(e.starts_with("serve.admin.port: invalid value"), "{e}");
    let e = err(
        &["identity:\n  schemas:\n    - id: x\n      url: 5\n      selfservice_selectable: nope\n"],
        &[],
    );
    assert!(
        e.starts_with("identity.schemas[0].url: invalid type"),
        "{e}"
    );
    let e = err(&["session:\n  lifespan: forever\n"], &[]);
    assert!(e.starts_with("session.lifespan: invalid duration"), "{e}");
    let e = err(&["hashers:\n  argon2:\n    memory: lots\n"], &[]);
    assert!(
        e.starts_with("hashers.argon2.memory: invalid byte size"),
        "{e}"
    );
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let e = err(&["selfservice:\n  flows:\n    login:\n      foo: 1\n"], &[]);
    assert!(
        e.starts_with("selfservice.flows.login.foo: unknown key"),
        "{e}"
    );
    let e = err(&["nonsense: true\n"], &[]);
    assert!(e.starts_with("nonsense: unknown key"), "{e}");
    let e = err(
        &[
            "courier:\n  channels:\n    - id: sms\n      request_config: {url: https://sms.test}\n      extra: 1\n",
        ],
        &[],
    );
    assert!(
        e.starts_with("courier.channels[0].extra: unknown key"),
        "{e}"
    );
    // Closed in Kratos too: the web hook's auth block and its config.
    let auth = "selfservice:\n  flows:\n    login:\n      before:\n        hooks:\n          - hook: web_hook\n            \
                config:\n              url: https://hooks.test/x\n              method: POST\n              \
                auth:\n                type: basic_auth\n                config: {user: u, password: p}\n                realm: x\n";
    let e = err(&[auth], &[]);
    assert!(
        e.starts_with("selfservice.flows.login.before.hooks[0]") && e.contains("\"realm\""),
        "{e}"
    );
}

#[test]
fn keys_kratos_leaves_open_are_accepted_and_reported() {
    let yaml = "security:\n  account_enumeration:\n    enabled: true\n    mitigate: true\n\
                identity:\n  schemas:\n    - id: default\n      url: file://a\n      note: kept\n\
                selfservice:\n  methods:\n    code:\n      registration_enabled: true\n      config:\n        lifespan: 5m\n\
                database:\n  cleanup:\n    batch_size: 10\n    shard: 1\n";
    let loaded = load_yaml(
        &[yaml],
        &[("SECURITY_ACCOUNT_ENUMERATION_MITIGATE", "false")],
    )
    .unwrap();
    assert_eq!(
        loaded.unsupported,
        [
            "database.cleanup.shard",
            "identity.schemas[0].note",
            "security.account_enumeration.enabled",
            "selfservice.methods.code.registration_enabled",
        ]
    );
    let c = &loaded.config;
    // Env overrides still reach typed keys next to unknown ones.
    assert!(!c.security.account_enumeration.mitigate);
    assert_eq!(c.identity.schemas[0].url, "file://a");
    assert_eq!(
        c.selfservice.methods.code.config.lifespan,
        Duration::from_secs(300)
    );
    assert_eq!(c.database.cleanup.batch_size, 10);

    // Enterprise hooks take any settings, as Kratos's schema allows.
    let b2b = "selfservice:\n  flows:\n    login:\n      after:\n        hooks:\n          - hook: b2b_sso\n            \
               config: {anything: 1}\n            extra: true\n";
    let loaded = load_yaml(&[b2b], &[]).unwrap();
    let Hook::B2bSso(settings) = &loaded.config.selfservice.flows.login.after.hooks[0] else {
        panic!("expected b2b_sso");
    };
    assert_eq!(settings.len(), 2);
    assert_eq!(
        loaded.unsupported,
        [
            "selfservice.flows.login.after.hooks[0].config",
            "selfservice.flows.login.after.hooks[0].extra"
        ]
    );
}

#[test]
fn kratos_schema_rules_beyond_types_are_enforced() {
    let hooks =
        |at: &str, list: &str| format!("selfservice:\n  flows:\n    {at}:\n      after:\n{list}");
    // Each hook list takes only the hooks Kratos's schema lists for it.
    let e = err(
        &[&hooks(
            "login",
            "        hooks:\n          - hook: session\n",
        )],
        &[],
    );
    assert!(
        e.starts_with(
            "selfservice.flows.login.after.hooks[0].hook: hook `session` is not allowed here"
        ),
        "{e}"
    );
    let e = err(
        &[&hooks(
            "registration",
            "        hooks:\n          - hook: session\n",
        )],
        &[],
    );
    assert!(
        e.starts_with("selfservice.flows.registration.after.hooks[0].hook"),
        "{e}"
    );
    let ok = hooks(
        "registration",
        "        password:\n          hooks:\n            - hook: session\n            - hook: show_verification_ui\n",
    );
    load_yaml(&[&ok], &[]).unwrap();
    let e = err(
        &[&hooks(
            "registration",
            "        code:\n          hooks:\n            - hook: session\n            - hook: session\n",
        )],
        &[],
    );
    assert_eq!(
        e,
        "selfservice.flows.registration.after.code.hooks[1]: duplicate of selfservice.flows.registration.after.code.hooks[0]"
    );
    let web_hook = |extra: &str| {
        hooks(
            "login",
            &format!(
                "        hooks:\n          - hook: web_hook\n            config:\n              url: https://h.test\n              method: POST\n{extra}"
            ),
        )
    };
    let e = err(
        &[&web_hook(
            "              response: {ignore: true, parse: true}\n",
        )],
        &[],
    );
    assert!(
        e.starts_with("selfservice.flows.login.after.hooks[0].config.response: ignore and parse"),
        "{e}"
    );
    let e = err(
        &[&web_hook(
            "              response: {ignore: true}\n              can_interrupt: true\n",
        )],
        &[],
    );
    assert!(
        e.starts_with("selfservice.flows.login.after.hooks[0].config.can_interrupt"),
        "{e}"
    );

    let e = err(
        &[
            "selfservice:\n  methods:\n    code:\n      passwordless_enabled: true\n      mfa_enabled: true\n",
        ],
        &[],
    );
    assert!(
        e.starts_with("selfservice.methods.code: passwordless_enabled and mfa_enabled"),
        "{e}"
    );
    let e = err(&["ciphers:\n  algorithm: aes\n"], &[]);
    assert_eq!(
        e,
        "secrets.cipher: required when ciphers.algorithm is \"aes\""
    );
    let e = err(
        &["selfservice:\n  methods:\n    code:\n      config:\n        max_submissions: 256\n"],
        &[],
    );
    assert_eq!(
        e,
        "selfservice.methods.code.config.max_submissions: must be between 1 and 255, got 256"
    );
    let e = err(&["database:\n  cleanup:\n    batch_size: 0\n"], &[]);
    assert!(
        e.starts_with("database.cleanup.batch_size: must be between 1"),
        "{e}"
    );
    let e = err(&["hashers:\n  bcrypt: {}\n"], &[]);
    assert!(e.starts_with("hashers.bcrypt: missing field `cost`"), "{e}");
    // A courier channel's type defaults to http, as Kratos's schema does not require it.
    let c = load_yaml(
        &["courier:\n  channels:\n    - id: sms\n      request_config: {url: https://sms.test}\n"],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(c.courier.channels[0].kind, ChannelType::Http);
}

#[test]
fn enum_values_are_checked() {
    let e = err(&["log:\n  level: verbose\n"], &[]);
    assert!(e.starts_with("log.level: unknown variant `verbose`"), "{e}");
    let e = err(&["ciphers:\n  algorithm: rot13\n"], &[]);
    assert!(e.starts_with("ciphers.algorithm: unknown variant"), "{e}");
    let e = err(&["hashers:\n  algorithm: md5\n"], &[]);
    assert!(e.starts_with("hashers.algorithm: unknown variant"), "{e}");
    let e = err(
        &["serve:\n  public:\n    cors:\n      allowed_methods: [GET, FETCH]\n"],
        &[],
    );
    assert!(
        e.starts_with("serve.public.cors.allowed_methods[1]: unknown variant"),
        "{e}"
    );
}

#[test]
fn hooks_are_validated_by_name_and_config() {
    let ok = "selfservice:\n  flows:\n    registration:\n      after:\n        hooks:\n          - hook: web_hook\n            \
              config:\n              url: https://hooks.test/x\n              method: POST\n              \
              auth:\n                type: api_key\n                config: {name: k, value: v, in: header}\n        \
              password:\n          hooks:\n            - hook: session\n";
    let c = load_yaml(&[ok], &[]).unwrap().config;
    let after = &c.selfservice.flows.registration.after;
    assert_eq!(after.password.hooks, [Hook::Session]);
    let Hook::WebHook { config } = &after.hooks[0] else {
        panic!("expected web hook");
    };
    assert!(config.emit_analytics_event);
    assert!(matches!(config.auth, Some(HttpAuth::ApiKey(_))));

    let bad = "selfservice:\n  flows:\n    login:\n      after:\n        hooks:\n          - hook: teleport\n";
    let e = err(&[bad], &[]);
    assert!(
        e.starts_with("selfservice.flows.login.after.hooks[0].hook: unknown variant `teleport`"),
        "{e}"
    );
    let no_url = "selfservice:\n  flows:\n    login:\n      after:\n        hooks:\n          - hook: web_hook\n            config: {method: GET}\n";
    let e = err(&[no_url], &[]);
    assert!(
        e.starts_with("selfservice.flows.login.after.hooks[0]"),
        "{e}"
    );
    assert!(e.contains("url"), "{e}");
}

#[test]
fn short_secrets_and_bad_ranges_are_rejected() {
    let e = err(&["secrets:\n  cookie: [short]\n"], &[]);
    assert_eq!(
        e,
        "secrets.cookie[0]: secret must be at least 16 characters long, got 5"
    );
    let e = err(&["secrets:\n  cipher: [not-32-chars-long-at-all]\n"], &[]);
    assert!(
        e.starts_with("secrets.cipher[0]: cipher secret must be exactly 32"),
        "{e}"
    );
    let e = err(&["hashers:\n  bcrypt:\n    cost: 40\n"], &[]);
    assert!(
        e.starts_with("hashers.bcrypt.cost: must be between 4 and 31"),
        "{e}"
    );
    let e = err(&["identity:\n  default_schema_id: nope\n"], &[]);
    assert!(
        e.starts_with("identity.default_schema_id: no schema"),
        "{e}"
    );
    let e = err(&["serve:\n  public:\n    base_url: not a url\n"], &[]);
    assert!(e.starts_with("serve.public.base_url: invalid URL"), "{e}");
}

#[test]
fn cipher_secrets_are_32_bytes() {
    // 32 characters, 33 bytes: the key is the bytes.
    let e = err(
        &["secrets:\n  cipher: [é-thirty-one-more-characters-xxx]\n"],
        &[],
    );
    assert_eq!(
        e,
        "secrets.cipher[0]: cipher secret must be 32 bytes: use ASCII characters only"
    );
}

const OIDC_ON: &str = "selfservice:\n  methods:\n    oidc:\n      enabled: true\n";
const CIPHER_KEY: &str = "secrets:\n  cipher: [oidc-token-cipher-key-0000000032]\n";

#[test]
fn oidc_refuses_the_default_noop_cipher() {
    let e = err(&[OIDC_ON], &[]);
    assert!(
        e.starts_with(
            "ciphers.algorithm: selfservice.methods.oidc is enabled and would store provider tokens in clear"
        ),
        "{e}"
    );
    // A cipher secret alone does not change the algorithm.
    assert!(err(&[OIDC_ON, CIPHER_KEY], &[]).starts_with("ciphers.algorithm: "));
    // The rule runs on every load, not only at start-up: the same `load` serves reloads.
    let written = schema_rules::Written::default();
    let mut c = Config::default();
    c.selfservice.methods.oidc.enabled = true;
    assert!(schema_rules::check(&c, &written).is_err());
    c.selfservice.methods.oidc.enabled = false;
    assert!(schema_rules::check(&c, &written).is_ok());
}

#[test]
fn oidc_takes_a_keyed_cipher_or_noop_written_out() {
    for algorithm in ["aes", "xchacha20-poly1305"] {
        let ciphers = format!("ciphers:\n  algorithm: {algorithm}\n");
        let c = load_yaml(&[OIDC_ON, CIPHER_KEY, &ciphers], &[])
            .unwrap()
            .config;
        assert!(c.selfservice.methods.oidc.enabled);
        // Without a secret the keyed algorithms are refused before OIDC is looked at.
        let e = err(&[OIDC_ON, &ciphers], &[]);
        assert!(e.starts_with("secrets.cipher: required"), "{e}");
    }
    // Noop written in a file or the environment is the operator's choice (a warning is logged).
    let c = load_yaml(&[OIDC_ON, "ciphers:\n  algorithm: noop\n"], &[]).unwrap();
    assert_eq!(c.config.ciphers.algorithm, CipherAlgorithm::Noop);
    load_yaml(&[OIDC_ON], &[("CIPHERS_ALGORITHM", "noop")]).unwrap();
    // An empty value is unset, not noop.
    assert!(err(&[OIDC_ON, "ciphers:\n  algorithm:\n"], &[]).starts_with("ciphers.algorithm: "));
    // Without OIDC the default noop stays fine.
    load_yaml(&["ciphers:\n"], &[]).unwrap();
}

#[test]
fn file_errors_name_the_file() {
    let missing = PathBuf::from("./definitely-missing-gatehouse.yml");
    let e = load(&[missing], &[]).unwrap_err().to_string();
    assert!(
        e.starts_with("config file ./definitely-missing-gatehouse.yml: "),
        "{e}"
    );
    let e = err(&["serve: [unclosed\n"], &[]);
    assert!(e.starts_with("YAML syntax error in "), "{e}");
    let e = err(&["- just\n- a list\n"], &[]);
    assert!(e.contains("top level must be a map"), "{e}");
}

#[test]
fn empty_values_mean_unset() {
    let c = load_yaml(&["courier:\nlog:\n  level:\n"], &[]).unwrap();
    assert_eq!(c.config.log.level, LogLevel::Info);
    assert!(c.unsupported.is_empty());
    let c = load_yaml(&[""], &[]).unwrap();
    assert_eq!(c.config.dsn, DEFAULT_DSN);
}

#[test]
fn durations_parse_and_print_like_go() {
    let cases = [
        ("1h", 3_600_000_000_000u128, "1h0m0s"),
        ("24h", 86_400_000_000_000, "24h0m0s"),
        ("1m30s", 90_000_000_000, "1m30s"),
        ("500ms", 500_000_000, "500ms"),
        ("1ns", 1, "1ns"),
        ("0s", 0, "0s"),
        ("0", 0, "0s"),
        ("1.5h", 5_400_000_000_000, "1h30m0s"),
        ("2us", 2_000, "2µs"),
        ("1.5s", 1_500_000_000, "1.5s"),
        ("1h15m30.5s", 4_530_500_000_000, "1h15m30.5s"),
    ];
    for (input, nanos, shown) in cases {
        let d: Duration = input.parse().unwrap();
        assert_eq!(d.get().as_nanos(), nanos, "{input}");
        assert_eq!(d.to_string(), shown, "{input}");
        assert_eq!(
            d.to_string().parse::<Duration>().unwrap(),
            d,
            "{input} round-trips"
        );
    }
    // Go's maximum is int64 nanoseconds: the largest still parses, one more does not.
    let max: Duration = "9223372036854775807ns".parse().unwrap();
    assert_eq!(max.get().as_nanos(), i64::MAX as u128);
    for bad in [
        "",
        "1",
        "h",
        "1d",
        "-5s",
        "1.h2",
        "abc",
        "5 s",
        "9223372036854775808ns",
        "99999999999999h",
    ] {
        assert!(bad.parse::<Duration>().is_err(), "{bad:?} should fail");
    }
}

#[test]
fn byte_sizes_parse_and_print() {
    let cases = [
        ("128MB", 128 << 20, "128MB"),
        ("1GB", 1 << 30, "1GB"),
        ("16MiB", 16 << 20, "16MB"),
        ("16KB", 16 << 10, "16KB"),
        ("64KiB", 64 << 10, "64KB"),
        ("1536", 1536, "1536B"),
        ("2048", 2048, "2KB"),
        ("1.5GB", 3 << 29, "1536MB"),
        ("10b", 10, "10B"),
    ];
    for (input, bytes, shown) in cases {
        let b: ByteSize = input.parse().unwrap();
        assert_eq!(b.as_bytes(), bytes, "{input}");
        assert_eq!(b.to_string(), shown, "{input}");
    }
    assert_eq!("1GB".parse::<ByteSize>().unwrap().as_kib(), 1 << 20);
    for bad in ["", "MB", "12XB", "-1MB"] {
        assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} should fail");
    }
    let c = load_yaml(
        &["hashers:\n  argon2:\n    memory: 1048576\n    dedicated_memory: 2GB\n"],
        &[],
    )
    .unwrap();
    assert_eq!(c.config.hashers.argon2.memory, ByteSize::mib(1));
    assert_eq!(c.config.hashers.argon2.dedicated_memory, ByteSize::gib(2));
}

#[test]
fn unsupported_lists_unbuilt_features_only() {
    let yaml = "dsn: memory\nversion: v1.0.0\nlog:\n  level: debug\nidentity:\n  default_schema_id: default\n\
                serve:\n  public:\n    port: 4000\n    cors:\n      enabled: true\n      allowed_origins: [https://app.example.com]\n    tls:\n      key:\n        path: k.pem\n  \
                admin:\n    host: 127.0.0.1\n    request_log:\n      disable_for_health: true\n\
                courier:\n  smtp:\n    connection_uri: smtp://x\nsession:\n  lifespan: 1h\n\
                selfservice:\n  flows:\n    login:\n      ui_url: http://x/login\n";
    let loaded = load_yaml(
        &[yaml],
        &[("TRACING_PROVIDER", "ignored: tracing is free-form")],
    )
    .unwrap();
    assert_eq!(
        loaded.unsupported,
        ["serve.admin.request_log", "serve.public.tls",]
    );
    assert!(is_supported("serve.public.cors.enabled"));
    assert!(is_supported("identity.schemas[0].url"));
    assert!(is_supported(
        "selfservice.flows.settings.privileged_session_max_age"
    ));
    assert!(!is_supported("serve.public"));
    assert!(!is_supported("dsnx"));
    let env_only = load(&[], &[("COURIER_SMTP_FROM_NAME".into(), "Example".into())]).unwrap();
    assert!(env_only.unsupported.is_empty());
}

#[test]
fn base_urls_and_secret_fallbacks() {
    let c = Config::default();
    assert_eq!(c.public_base_url(false).as_str(), "https://127.0.0.1:4433/");
    assert_eq!(c.admin_base_url(true).as_str(), "http://127.0.0.1:4434/");
    let c = load_yaml(
        &["serve:\n  public:\n    base_url: https://id.example.org/.ory/\n  admin:\n    host: ::1\n\
           secrets:\n  default: [default-secret-0123456789]\n"],
        &[],
    )
    .unwrap()
    .config;
    assert_eq!(
        c.public_base_url(false).as_str(),
        "https://id.example.org/.ory/"
    );
    assert_eq!(c.admin_base_url(true).as_str(), "http://[::1]:4434/");
    assert_eq!(c.cookie_secrets(), ["default-secret-0123456789"]);
    assert_eq!(c.pagination_secrets(), ["default-secret-0123456789"]);
    assert!(c.cipher_secrets().is_empty());
}

// Fixtures mirroring the key sets of Kratos's quickstart configs, with our own values.

const QS_ALL_STRATEGIES: &str = r#"
version: v1.2.0
dsn: sqlite:///tmp/all.db
serve:
  public:
    base_url: http://auth.local:5000/
    cors:
      enabled: false
  admin:
    base_url: http://auth-admin:5001/
session:
  whoami:
    required_aal: highest_available
selfservice:
  default_browser_return_url: http://app.local:3000/
  allowed_return_urls:
    - http://app.local:3000
    - myapp://callback
  methods:
    password:
      enabled: false
    webauthn:
      enabled: true
      config:
        passwordless: false
        rp:
          display_name: Demo
          id: app.local
          origin: http://app.local:3000
    passkey:
      enabled: false
      config:
        rp:
          display_name: Demo
          id: app.local
          origins:
            - http://app.local:3000
  flows:
    error:
      ui_url: http://app.local:3000/oops
    settings:
      ui_url: http://app.local:3000/account
      privileged_session_max_age: 5m
      required_aal: highest_available
    recovery:
      enabled: false
      ui_url: http://app.local:3000/forgot
      use: link
    verification:
      enabled: true
      ui_url: http://app.local:3000/verify
      use: link
      after:
        default_browser_return_url: http://app.local:3000/done
    logout:
      after:
        default_browser_return_url: http://app.local:3000/bye
    login:
      ui_url: http://app.local:3000/signin
      lifespan: 30m
    registration:
      enable_legacy_one_step: true
      lifespan: 20m
      ui_url: http://app.local:3000/signup
      after:
        passkey:
          hooks:
            - hook: session
        webauthn:
          hooks:
            - hook: show_verification_ui
        password:
          hooks:
            - hook: show_verification_ui
            - hook: session
log:
  level: warning
  format: json
  leak_sensitive_values: false
secrets:
  cookie:
    - cookie-secret-for-tests-only
  cipher:
    - abcdefghijklmnopqrstuvwxyz012345
ciphers:
  algorithm: aes
hashers:
  algorithm: argon2
  bcrypt:
    cost: 10
identity:
  default_schema_id: person
  schemas:
    - id: person
      url: file:///srv/person.schema.json
courier:
  smtp:
    connection_uri: smtp://mail.local:25/?disable_starttls=true
"#;

const QS_EMAIL_PASSWORD: &str = r#"
version: v1.1.0
dsn: postgres://u:p@db/kratos
serve:
  public:
    base_url: https://login.example.com/
    cors:
      enabled: false
  admin:
    base_url: http://admin.internal:4434/
selfservice:
  default_browser_return_url: https://example.com/home
  allowed_return_urls:
    - https://example.com
  methods:
    password:
      enabled: true
    totp:
      config:
        issuer: Example Inc
      enabled: false
    lookup_secret:
      enabled: false
    link:
      enabled: false
    code:
      enabled: false
  flows:
    error:
      ui_url: https://example.com/error
    settings:
      ui_url: https://example.com/settings
      privileged_session_max_age: 30m
      required_aal: aal1
    recovery:
      enabled: false
      ui_url: https://example.com/recovery
      use: link
    verification:
      enabled: false
      ui_url: https://example.com/verification
      use: link
      after:
        default_browser_return_url: https://example.com/verified
    logout:
      after:
        default_browser_return_url: https://example.com/
    login:
      ui_url: https://example.com/login
      lifespan: 1h
    registration:
      lifespan: 1h
      ui_url: https://example.com/registration
      after:
        password:
          hooks:
            - hook: session
log:
  level: info
  format: json
  leak_sensitive_values: false
secrets:
  cookie:
    - another-cookie-secret-value
  cipher:
    - 0123456789abcdef0123456789abcdef
ciphers:
  algorithm: noop
hashers:
  algorithm: bcrypt
  bcrypt:
    cost: 4
identity:
  default_schema_id: user
  schemas:
    - id: user
      url: https://schemas.example.com/user.json
courier:
  smtp:
    connection_uri: smtps://user:pass@smtp.example.com:465/
feature_flags:
  use_continue_with_transitions: false
"#;

const QS_PASSKEY: &str = r#"
serve:
  public:
    base_url: http://127.0.0.1:7000/
    cors:
      enabled: true
      allowed_origins: [http://127.0.0.1:7002]
  admin:
    base_url: http://127.0.0.1:7001/
session:
  whoami:
    required_aal: highest_available
selfservice:
  default_browser_return_url: http://127.0.0.1:7002/
  allowed_return_urls:
    - http://127.0.0.1:7002
    - https://other.example/
  methods:
    link:
      config:
        lifespan: 15m
    code:
      config:
        lifespan: 10m
    totp:
      enabled: false
      config:
        issuer: passkey-demo
    lookup_secret:
      enabled: false
    webauthn:
      enabled: false
      config:
        passwordless: false
        rp:
          id: 127.0.0.1
          origins:
            - http://127.0.0.1:7002
          display_name: PK
    passkey:
      enabled: true
      config:
        rp:
          id: 127.0.0.1
          origins:
            - http://127.0.0.1:7002
          display_name: PK
  flows:
    settings:
      ui_url: http://127.0.0.1:7002/settings
      privileged_session_max_age: 1m
      required_aal: highest_available
    logout:
      after:
        default_browser_return_url: http://127.0.0.1:7002/
    registration:
      ui_url: http://127.0.0.1:7002/register
      after:
        password:
          hooks:
            - hook: session
        webauthn:
          hooks:
            - hook: session
        passkey:
          hooks:
            - hook: session
    login:
      ui_url: http://127.0.0.1:7002/login
    error:
      ui_url: http://127.0.0.1:7002/error
    verification:
      ui_url: http://127.0.0.1:7002/verify
    recovery:
      ui_url: http://127.0.0.1:7002/recover
log:
  level: trace
  format: text
  leak_sensitive_values: false
secrets:
  cookie:
    - passkey-cookie-secret-xyz
  cipher:
    - ZYXWVUTSRQPONMLKJIHGFEDCBA987654
ciphers:
  algorithm: xchacha20-poly1305
hashers:
  algorithm: bcrypt
  bcrypt:
    cost: 6
identity:
  schemas:
    - id: default
      url: base64://e30=
courier:
  smtp:
    connection_uri: smtp://localhost:2525/
"#;

const QS_PHONE_PASSWORD: &str = r#"
version: v1.0.0
dsn: memory
serve:
  public:
    base_url: http://phone.local/
    cors:
      enabled: false
  admin:
    base_url: http://phone-admin.local/
selfservice:
  default_browser_return_url: http://phone.local/app
  allowed_return_urls:
    - http://phone.local
  methods:
    password:
      enabled: true
    totp:
      config:
        issuer: PhoneCo
      enabled: false
    lookup_secret:
      enabled: false
    link:
      enabled: false
    code:
      enabled: true
  flows:
    error:
      ui_url: http://phone.local/e
    settings:
      ui_url: http://phone.local/s
      privileged_session_max_age: 10m
      required_aal: aal1
    recovery:
      enabled: false
      ui_url: http://phone.local/r
      use: code
    verification:
      enabled: false
      ui_url: http://phone.local/v
      use: code
      after:
        default_browser_return_url: http://phone.local/app
    logout:
      after:
        default_browser_return_url: http://phone.local/
    login:
      ui_url: http://phone.local/l
      lifespan: 5m
    registration:
      lifespan: 5m
      ui_url: http://phone.local/reg
      after:
        password:
          hooks:
            - hook: session
log:
  level: error
  format: text
  leak_sensitive_values: false
secrets:
  cookie:
    - phone-cookie-secret-0000
  cipher:
    - phone-cipher-key-000000000000000
ciphers:
  algorithm: aes
hashers:
  algorithm: bcrypt
  bcrypt:
    cost: 5
identity:
  default_schema_id: phone
  schemas:
    - id: phone
      url: file:///srv/phone.json
courier:
  channels:
    - id: sms
      type: http
      request_config:
        url: https://sms.example.net/send
        method: PUT
        body: file:///srv/sms.jsonnet
        headers:
          Content-Type: application/json
        auth:
          type: basic_auth
          config:
            user: smsuser
            password: smspass
feature_flags:
  use_continue_with_transitions: false
"#;

const QS_WEBAUTHN: &str = r#"
version: v1.3.0
dsn: sqlite:///var/lib/webauthn.db?_fk=true
serve:
  public:
    base_url: https://wa.example/
    cors:
      enabled: false
  admin:
    base_url: http://wa-admin:4434/
selfservice:
  default_browser_return_url: https://wa.example/home
  allowed_return_urls:
    - https://wa.example
  methods:
    password:
      enabled: true
    totp:
      config:
        issuer: WA
      enabled: false
    lookup_secret:
      enabled: false
    link:
      enabled: false
    code:
      enabled: false
    webauthn:
      config:
        passwordless: false
        rp:
          display_name: WA Demo
          id: wa.example
          origin: https://wa.example
      enabled: true
  flows:
    error:
      ui_url: https://wa.example/error
    settings:
      ui_url: https://wa.example/settings
      privileged_session_max_age: 2h
      required_aal: aal1
    recovery:
      enabled: false
      ui_url: https://wa.example/recovery
      use: link
    verification:
      enabled: false
      ui_url: https://wa.example/verification
      use: link
      after:
        default_browser_return_url: https://wa.example/ok
    logout:
      after:
        default_browser_return_url: https://wa.example/
    login:
      ui_url: https://wa.example/login
      lifespan: 3m
    registration:
      lifespan: 3m
      ui_url: https://wa.example/registration
      after:
        password:
          hooks:
            - hook: show_verification_ui
log:
  level: fatal
  format: json
  leak_sensitive_values: false
secrets:
  cookie:
    - webauthn-cookie-secret-1
  cipher:
    - webauthn-cipher-key-000000000000
ciphers:
  algorithm: noop
hashers:
  algorithm: argon2
  bcrypt:
    cost: 31
identity:
  default_schema_id: default
  schemas:
    - id: default
      url: file:///srv/wa.json
courier:
  smtp:
    connection_uri: smtp://mail.wa.example:587/
"#;

#[test]
fn quickstart_shaped_configs_load() {
    for (name, yaml) in [
        ("all-strategies", QS_ALL_STRATEGIES),
        ("email-password", QS_EMAIL_PASSWORD),
        ("passkey", QS_PASSKEY),
        ("phone-password", QS_PHONE_PASSWORD),
        ("webauthn", QS_WEBAUTHN),
    ] {
        let loaded = load_yaml(&[yaml], &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Every method the quickstarts enable is built.
        assert!(
            !loaded
                .unsupported
                .iter()
                .any(|k| k.starts_with("selfservice.")),
            "{name}: {:?}",
            loaded.unsupported
        );
        assert!(
            !loaded
                .unsupported
                .iter()
                .any(|k| k.starts_with("selfservice.flows.login")),
            "{name}"
        );
        assert!(
            !loaded.unsupported.contains(&"courier".to_owned()),
            "{name}"
        );
        assert!(
            !loaded
                .unsupported
                .iter()
                .any(|k| k.starts_with("log") || k.starts_with("identity"))
        );
    }
    let c = load_yaml(&[QS_ALL_STRATEGIES], &[]).unwrap().config;
    assert_eq!(
        c.selfservice
            .flows
            .settings
            .privileged_session_max_age
            .to_string(),
        "5m0s"
    );
    assert_eq!(c.selfservice.flows.verification.use_, FlowStrategy::Link);
    assert_eq!(
        c.selfservice.methods.webauthn.config.passwordless,
        Some(false)
    );
    assert_eq!(c.hashers.bcrypt.cost, 10);
    let c = load_yaml(&[QS_PHONE_PASSWORD], &[]).unwrap().config;
    let channel = &c.courier.channels[0];
    assert_eq!(channel.request_config.method, "PUT");
    assert!(matches!(
        channel.request_config.auth,
        Some(HttpAuth::BasicAuth(_))
    ));
    let c = load_yaml(&[QS_PASSKEY], &[]).unwrap().config;
    assert_eq!(
        c.selfservice.methods.link.config.lifespan.to_string(),
        "15m0s"
    );
    assert_eq!(c.dsn, DEFAULT_DSN);
}

fn cors_yaml(origins: &str, credentials: Option<bool>) -> String {
    let creds = credentials
        .map(|c| format!("      allow_credentials: {c}\n"))
        .unwrap_or_default();
    format!(
        "serve:\n  public:\n    cors:\n      enabled: true\n      allowed_origins: {origins}\n{creds}"
    )
}

#[test]
fn cors_refuses_any_origin_with_credentials() {
    for origins in [
        "['*']",
        "['null']",
        "['https://*']",
        "['https://*.com']",
        "['https://*example.com']",
        "['*.example.com']",
        "['http*://example.com']",
        "['https://example.com:*']",
        "['https://a.example.com', 'https://*']",
    ] {
        // Credentials on by default (Kratos's default), and when set explicitly.
        for creds in [None, Some(true)] {
            let e = load_yaml(&[&cors_yaml(origins, creds)], &[])
                .expect_err(origins)
                .to_string();
            assert!(
                e.starts_with("serve.public.cors.allowed_origins[")
                    && e.contains("serve.public.cors.allow_credentials"),
                "{origins}: {e}"
            );
        }
        // Without credentials an open list is the operator's choice.
        load_yaml(&[&cors_yaml(origins, Some(false))], &[]).expect(origins);
    }
    let e = load_yaml(&[&cors_yaml("['https://a.example.com', '*']", None)], &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("serve.public.cors.allowed_origins[1]: \"*\""),
        "{e}"
    );
    // The default list (`*`) with the default credentials is refused once CORS is on, and
    // accepted while it is off.
    let on = "serve:\n  public:\n    cors:\n      enabled: true\n";
    assert!(load_yaml(&[on], &[]).is_err());
    load_yaml(
        &["serve:\n  public:\n    cors:\n      enabled: false\n"],
        &[],
    )
    .unwrap();
}

#[test]
fn cors_accepts_listed_origins_and_subdomain_patterns_with_credentials() {
    for origins in [
        "['https://app.example.com']",
        "['http://localhost:3000', 'https://*.example.com']",
        "['https://*.foo.example.com']",
        "['https://app-*.example.com:8443']",
        "[]",
    ] {
        let c = load_yaml(&[&cors_yaml(origins, None)], &[])
            .unwrap_or_else(|e| panic!("{origins}: {e}"))
            .config;
        assert!(c.serve.public.cors.allow_credentials);
    }
}
