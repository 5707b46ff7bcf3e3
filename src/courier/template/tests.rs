use serde_json::{Value, json};

use super::parse::Parsed;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/templates");

fn run(src: &str, data: &Value, html: bool) -> Result<String, String> {
    let p = Parsed::parse(src).map_err(|e| e.to_string())?;
    p.check_references().map_err(|e| e.to_string())?;
    exec::execute(&p, data, html)
}

fn text(src: &str, data: Value) -> String {
    run(src, &data, false).unwrap_or_else(|e| panic!("{src:?} failed: {e}"))
}

fn html(src: &str, data: Value) -> String {
    run(src, &data, true).unwrap_or_else(|e| panic!("{src:?} failed: {e}"))
}

fn parse_error(src: &str) -> String {
    match Parsed::parse(src).and_then(|p| p.check_references()) {
        Ok(()) => panic!("{src:?} parsed"),
        Err(e) => e.to_string(),
    }
}

fn exec_error(src: &str, data: Value) -> String {
    run(src, &data, false).expect_err("render should fail")
}

fn sample() -> Value {
    json!({
        "To": "ada@example.com",
        "RecoveryCode": "123456",
        "RecoveryURL": "https://id.example.com/recover?token=abc&flow=1",
        "VerificationCode": "654321",
        "VerificationURL": "https://id.example.com/verify?token=xyz&flow=2",
        "LoginCode": "111222",
        "RegistrationCode": "333444",
        "ExpiresInMinutes": 15,
        "RequestURL": "https://app.example.com/login",
        "Identity": {"id": "i-1", "traits": {"email": "ada@example.com"}},
        "Traits": {"email": "ada@example.com"},
        "TransientPayload": {"locale": "en"},
    })
}

/// The value each type's message must show.
fn key_value(t: TemplateType) -> &'static str {
    use TemplateType as T;
    match t {
        T::RecoveryInvalid
        | T::RecoveryCodeInvalid
        | T::VerificationInvalid
        | T::VerificationCodeInvalid => "ada@example.com",
        T::RecoveryValid => "https://id.example.com/recover?token=abc",
        T::RecoveryCodeValid => "123456",
        T::VerificationValid => "https://id.example.com/verify?token=xyz",
        T::VerificationCodeValid => "654321",
        T::LoginCodeValid => "111222",
        T::RegistrationCodeValid => "333444",
    }
}

fn assert_send_sync<T: Send + Sync>() {}

// ------------------------------------------------------------------ built-ins

#[test]
fn every_builtin_renders() {
    assert_send_sync::<Templates>();
    let tpl = Templates::builtin();
    for t in TemplateType::ALL {
        let r = tpl.render(t, Channel::Email, &sample()).unwrap();
        let html = r.html.clone().unwrap();
        assert!(
            !r.subject.is_empty() && !r.subject.contains('\n'),
            "{t}: {r:?}"
        );
        for part in [&r.subject, &r.body, &html] {
            assert!(
                !part.contains("<no value>") && !part.contains("{{"),
                "{t}: {part}"
            );
        }
        assert!(r.body.contains(key_value(t)), "{t} plaintext: {}", r.body);
        // The HTML body escapes `&` in URLs, as html/template does.
        assert!(
            html.contains(&key_value(t).replace('&', "&amp;")),
            "{t} html: {html}"
        );
        assert!(html.starts_with("<!DOCTYPE html>"), "{t}");
        if t.as_str().contains("invalid") {
            assert!(
                r.body.contains("does not belong to any account"),
                "{t}: {}",
                r.body
            );
            let err = tpl.render(t, Channel::Sms, &sample()).unwrap_err();
            assert!(matches!(err, TemplateError::Missing { .. }), "{t}: {err}");
            assert!(err.to_string().contains(t.as_str()), "{err}");
        } else {
            let sms = tpl.render(t, Channel::Sms, &sample()).unwrap();
            assert!(sms.body.contains(key_value(t)), "{t} sms: {}", sms.body);
            assert!(sms.html.is_none() && sms.subject.is_empty());
            assert!(!sms.body.ends_with('\n'), "{t} sms has a trailing newline");
        }
        if t.as_str().contains("code_valid") {
            assert!(r.body.contains("15 minutes"), "{t}: {}", r.body);
        }
    }
}

#[test]
fn builtin_code_email_exact_layout() {
    let r = Templates::builtin()
        .render(
            TemplateType::VerificationCodeValid,
            Channel::Email,
            &json!({"To": "a@b.c", "VerificationCode": "42", "VerificationURL": "https://x/v?a=1"}),
        )
        .unwrap();
    assert_eq!(r.subject, "Your email verification code");
    assert_eq!(
        r.body,
        "Hello,\n\nEnter this code to confirm your email address:\n\n42\n\nOr open this link to \
         confirm right away:\nhttps://x/v?a=1\n\nIf you did not ask for this, you can ignore this message.\n"
    );
    let sms = Templates::builtin()
        .render(
            TemplateType::VerificationCodeValid,
            Channel::Sms,
            &json!({"VerificationCode": "42"}),
        )
        .unwrap();
    assert_eq!(sms.body, "Your verification code: 42.");
}

#[test]
fn builtins_without_optional_fields_render_cleanly() {
    let tpl = Templates::builtin();
    for t in TemplateType::ALL {
        let r = tpl
            .render(t, Channel::Email, &json!({"To": "x@y.z"}))
            .unwrap();
        let all = format!("{}{}{}", r.subject, r.body, r.html.unwrap());
        assert!(
            !all.contains("<no value>") && !all.contains("minutes"),
            "{t}: {all}"
        );
    }
}

#[test]
fn html_escaping_only_in_html_bodies() {
    let data = json!({"To": "a<b>&\"c'@x.com"});
    let r = Templates::builtin()
        .render(TemplateType::RecoveryInvalid, Channel::Email, &data)
        .unwrap();
    assert!(r.body.contains("a<b>&\"c'@x.com"), "{}", r.body);
    let html = r.html.unwrap();
    assert!(html.contains("a&lt;b&gt;&amp;&#34;c&#39;@x.com"), "{html}");
    // Literal template markup is left alone.
    assert!(
        html.contains("<p>Hello,</p>") && html.contains("&mdash;"),
        "{html}"
    );
}

// ------------------------------------------------------------------ engine features

#[test]
fn fields_and_missing_keys() {
    let d = json!({"To": "t@x", "Identity": {"traits": {"email": "e@x", "name": {"first": "Ada"}}}, "N": null});
    assert_eq!(text("{{ .To }}", d.clone()), "t@x");
    assert_eq!(text("{{ .Identity.traits.email }}", d.clone()), "e@x");
    assert_eq!(text("{{ .Identity.traits.name.first }}", d.clone()), "Ada");
    // Go prints <no value> for a missing map key, and keeps going through the chain.
    assert_eq!(text("[{{ .Nope }}]", d.clone()), "[<no value>]");
    assert_eq!(
        text("[{{ .Identity.nope.deeper }}]", d.clone()),
        "[<no value>]"
    );
    assert_eq!(text("[{{ .N }}]", d.clone()), "[<no value>]");
    // html/template prints nothing instead.
    assert_eq!(html("[{{ .Nope }}]", d.clone()), "[]");
    assert!(exec_error("{{ .To.x }}", d.clone()).contains("can't evaluate field x in type string"));
    assert_eq!(text("{{ . }}", json!("dot")), "dot");
    assert_eq!(text("{{ $.To }}", d), "t@x");
}

#[test]
fn model_fields_default_to_go_zero_values() {
    let tpl = Templates::builtin();
    let zeros = with_model_defaults(TemplateType::LoginCodeValid, &json!({"To": "a"}));
    assert_eq!(zeros["LoginCode"], json!(""));
    assert_eq!(zeros["ExpiresInMinutes"], json!(0));
    assert_eq!(zeros["Identity"], Value::Null);
    assert_eq!(zeros["To"], json!("a"));
    let sms = tpl
        .render(TemplateType::LoginCodeValid, Channel::Sms, &json!({}))
        .unwrap();
    assert_eq!(sms.body, "Your sign-in code: .");
}

#[test]
fn printing_values_like_go() {
    assert_eq!(text("{{ .A }}", json!({"A": 15})), "15");
    assert_eq!(text("{{ .A }}", json!({"A": -3})), "-3");
    assert_eq!(text("{{ .A }}", json!({"A": 1.5})), "1.5");
    assert_eq!(
        text("{{ .A }}", json!({"A": 1073741824.0})),
        "1.073741824e+09"
    );
    assert_eq!(text("{{ .A }}", json!({"A": 0.00001})), "1e-05");
    assert_eq!(text("{{ .A }}", json!({"A": 100.0})), "100");
    assert_eq!(text("{{ .A }}", json!({"A": true})), "true");
    assert_eq!(
        text("{{ .A }}", json!({"A": [1, "b", null]})),
        "[1 b <nil>]"
    );
    assert_eq!(
        text("{{ .A }}", json!({"A": {"z": 1, "a": "x"}})),
        "map[a:x z:1]"
    );
}

#[test]
fn if_else_chains() {
    let src = "{{ if .X }}x{{ else if .Y }}y{{ else }}none{{ end }}";
    assert_eq!(text(src, json!({"X": 1, "Y": 1})), "x");
    assert_eq!(text(src, json!({"X": 0, "Y": "yes"})), "y");
    assert_eq!(text(src, json!({})), "none");
    assert_eq!(text("{{ if .X }}x{{ end }}", json!({})), "");
}

#[test]
fn truthiness_table() {
    let cases = [
        (json!(""), false),
        (json!("0"), true),
        (json!(0), false),
        (json!(0.0), false),
        (json!(2), true),
        (json!(-1.5), true),
        (json!(false), false),
        (json!(true), true),
        (Value::Null, false),
        (json!({}), false),
        (json!({"a": 1}), true),
        (json!([]), false),
        (json!([0]), true),
    ];
    for (v, want) in cases {
        let got = text(
            "{{ if .V }}T{{ else }}F{{ end }}",
            json!({ "V": v.clone() }),
        );
        assert_eq!(got, if want { "T" } else { "F" }, "value {v}");
    }
    assert_eq!(
        text("{{ if .Missing }}T{{ else }}F{{ end }}", json!({})),
        "F"
    );
}

#[test]
fn with_blocks() {
    let d = json!({"Identity": {"traits": {"email": "e@x"}}, "Empty": ""});
    assert_eq!(
        text(
            "{{ with .Identity.traits }}{{ .email }}{{ end }}",
            d.clone()
        ),
        "e@x"
    );
    assert_eq!(
        text("{{ with .Empty }}set{{ else }}unset{{ end }}", d.clone()),
        "unset"
    );
    assert_eq!(
        text(
            "{{ with .Nope }}a{{ else with .Identity }}{{ .traits.email }}{{ end }}",
            d.clone()
        ),
        "e@x"
    );
    assert_eq!(
        text(
            "{{ with $e := .Identity.traits.email }}{{ $e }}{{ end }}",
            d
        ),
        "e@x"
    );
}

#[test]
fn range_blocks() {
    let d = json!({"L": ["a", "b", "c"], "M": {"z": 1, "a": 2}, "E": []});
    assert_eq!(text("{{ range .L }}{{ . }}{{ end }}", d.clone()), "abc");
    assert_eq!(
        text(
            "{{ range $i, $e := .L }}{{ $i }}={{ $e }} {{ end }}",
            d.clone()
        ),
        "0=a 1=b 2=c "
    );
    assert_eq!(
        text(
            "{{ range $k, $v := .M }}{{ $k }}{{ $v }}{{ end }}",
            d.clone()
        ),
        "a2z1"
    );
    assert_eq!(text("{{ range .M }}{{ . }}{{ end }}", d.clone()), "21");
    assert_eq!(
        text("{{ range .E }}x{{ else }}empty{{ end }}", d.clone()),
        "empty"
    );
    assert_eq!(
        text("{{ range .Nope }}x{{ else }}none{{ end }}", d.clone()),
        "none"
    );
    assert_eq!(text("{{ range 3 }}{{ . }}{{ end }}", d.clone()), "012");
    assert_eq!(
        text(
            "{{ range .L }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ if eq . \"c\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
            d.clone()
        ),
        "a"
    );
    // Outer variables stay visible; `$` is still the root.
    assert_eq!(
        text(
            "{{ $p := \"-\" }}{{ range .L }}{{ $p }}{{ . }}{{ len $.L }}{{ end }}",
            d.clone()
        ),
        "-a3-b3-c3"
    );
    assert!(
        exec_error("{{ range .X }}{{ end }}", json!({"X": "str"})).contains("range can't iterate")
    );
}

#[test]
fn comments_and_trimming() {
    assert_eq!(text("a{{/* note */}}b", json!({})), "ab");
    assert_eq!(text("a  {{- /* note */ -}}  \n b", json!({})), "ab");
    assert_eq!(text("a \n {{- .X -}} \n b", json!({"X": 1})), "a1b");
    assert_eq!(text("a {{- .X }} b", json!({"X": 1})), "a1 b");
    assert_eq!(text("a {{ .X -}} b", json!({"X": 1})), "a 1b");
    assert_eq!(text("{{ -3 }}", json!({})), "-3");
    assert_eq!(text("{{/* multi\nline */}}x", json!({})), "x");
}

#[test]
fn literals_pipes_and_variables() {
    assert_eq!(text(r#"{{ "a\tb\"c\u00e9" }}"#, json!({})), "a\tb\"c\u{e9}");
    assert_eq!(text("{{ `raw\\n` }}", json!({})), "raw\\n");
    assert_eq!(text("{{ 'a' }}", json!({})), "97");
    assert_eq!(
        text("{{ 0x1F }} {{ 2.50 }} {{ true }}", json!({})),
        "31 2.5 true"
    );
    assert_eq!(text("{{ .X | upper }}", json!({"X": "ab"})), "AB");
    assert_eq!(
        text("{{ .X | printf \"<%s>\" | upper }}", json!({"X": "ab"})),
        "<AB>"
    );
    assert_eq!(
        text(
            "{{ $x := .X }}{{ $x }}{{ $x = \"new\" }}{{ $x }}",
            json!({"X": "old"})
        ),
        "oldnew"
    );
    assert_eq!(
        text("{{ (index .L 1).name }}", json!({"L": [{}, {"name": "n"}]})),
        "n"
    );
    assert_eq!(
        text("{{ if true }}{{ $v := 1 }}{{ $v }}{{ end }}", json!({})),
        "1"
    );
}

#[test]
fn functions() {
    let d =
        json!({"S": "  MiXed  ", "E": "", "N": 7, "M": {"k": "v"}, "L": [1, 2, 3], "U": "a b&c/d"});
    let cases = [
        ("{{ upper .S }}", "  MIXED  "),
        ("{{ lower .S }}", "  mixed  "),
        ("{{ trim .S }}", "MiXed"),
        ("{{ title \"hello wide world\" }}", "Hello Wide World"),
        ("{{ default \"none\" .E }}", "none"),
        ("{{ .E | default \"none\" }}", "none"),
        ("{{ .Missing | default \"none\" }}", "none"),
        ("{{ .N | default 1 }}", "7"),
        ("{{ printf \"%s-%d-%v\" \"a\" .N .L }}", "a-7-[1 2 3]"),
        (
            "{{ printf \"%05d|%-4s|%4s|%.2f|%x|%q|%%\" .N \"ab\" \"cd\" 3.14159 255 \"q\" }}",
            "00007|ab  |  cd|3.14|ff|\"q\"|%",
        ),
        ("{{ printf \"%d\" \"str\" }}", "%!d(string=str)"),
        ("{{ printf \"%s %s\" \"one\" }}", "one %!s(MISSING)"),
        ("{{ printf \"%s\" \"a\" 5 }}", "a%!(EXTRA int=5)"),
        ("{{ index .M \"k\" }}", "v"),
        ("{{ index .M \"nope\" }}", "<no value>"),
        ("{{ index .L 2 }}", "3"),
        (
            "{{ eq .N 7 }} {{ eq .N 1 2 7 }} {{ ne .N 7 }} {{ eq .S \"x\" }}",
            "true true false false",
        ),
        ("{{ eq .Missing nil }}", "true"),
        ("{{ lt 1 2 }} {{ ge \"b\" \"a\" }}", "true true"),
        ("{{ not .E }} {{ not .N }}", "true false"),
        (
            "{{ and .N .S }}|{{ and .E .N }}|{{ or .E .N }}|{{ or .E 0 }}",
            "  MiXed  ||7|0",
        ),
        ("{{ len .S }} {{ len .M }} {{ len .L }}", "9 1 3"),
        ("{{ html \"<a href='x'>\" }}", "&lt;a href=&#39;x&#39;&gt;"),
        ("{{ urlquery .U }}", "a+b%26c%2Fd"),
        ("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
        ("{{ print \"a\" 1 2 \"b\" }}", "a1 2b"),
        ("{{ replace \"-\" \"+\" \"a-b-c\" }}", "a+b+c"),
        (
            "{{ contains \"iX\" .S }} {{ hasPrefix \"  M\" .S }} {{ hasSuffix \"x\" .S }}",
            "true true false",
        ),
        ("{{ quote \"a\" }} {{ squote \"b\" }}", "\"a\" 'b'"),
        ("{{ toJson .M }}", "{\"k\":\"v\"}"),
        ("{{ join \", \" .L }}", "1, 2, 3"),
        ("{{ b64enc \"hi\" }} {{ b64dec \"aGk=\" }}", "aGk= hi"),
        ("{{ trunc 3 \"abcdef\" }}", "abc"),
        ("{{ coalesce .E .Missing .N }}", "7"),
        ("{{ empty .E }}", "true"),
    ];
    for (src, want) in cases {
        assert_eq!(text(src, d.clone()), want, "{src}");
    }
    assert!(exec_error("{{ index .L 9 }}", d.clone()).contains("index out of range"));
    assert!(exec_error("{{ eq .S 1 }}", d.clone()).contains("incompatible types"));
    assert!(exec_error("{{ upper .N }}", d.clone()).contains("expected string"));
    assert!(exec_error("{{ len .Missing }}", d).contains("len of nil"));
}

#[test]
fn html_mode_escapes_values_not_markup() {
    let d = json!({"X": "<script>&'\"", "U": "https://x/?a=1&b=2"});
    assert_eq!(
        html("<p>{{ .X }}</p>", d.clone()),
        "<p>&lt;script&gt;&amp;&#39;&#34;</p>"
    );
    assert_eq!(
        html("<a href=\"{{ .U }}\">", d.clone()),
        "<a href=\"https://x/?a=1&amp;b=2\">"
    );
    // An explicit `html` is not applied twice.
    assert_eq!(
        html("{{ .X | html }}", d.clone()),
        "&lt;script&gt;&amp;&#39;&#34;"
    );
    // Function results are values too.
    assert_eq!(html("{{ printf \"<%s>\" \"b\" }}", d.clone()), "&lt;b&gt;");
    assert_eq!(text("<p>{{ .X }}</p>", d), "<p><script>&'\"</p>");
}

#[test]
fn define_template_and_block() {
    let src = r#"{{ define "greet" }}Hi {{ . }}{{ end }}{{ template "greet" .Name }}!{{ block "sig" . }} -- {{ .Team }}{{ end }}"#;
    assert_eq!(
        text(src, json!({"Name": "Ada", "Team": "Ops"})),
        "Hi Ada! -- Ops"
    );
    let src = r#"{{ define "loop" }}{{ template "loop" . }}{{ end }}{{ template "loop" }}"#;
    assert!(exec_error(src, json!({})).contains("nests deeper"));
}

#[test]
fn parse_errors_are_caught_up_front() {
    let cases = [
        ("{{ frobnicate .X }}", "function \"frobnicate\" not defined"),
        ("{{ if .X }}open", "missing {{end}} for {{if}}"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ("{{ $nope }}", "undefined variable \"$nope\""),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ("{{ template \"missing\" }}", "no such template \"missing\""),
        ("{{ .X ", "unclosed action"),
        ("{{/* open", "unclosed comment"),
        ("{{ .X .Y }}", "can't give argument to non-function"),
        (
            "{{ .X | .Y }}",
            "non executable command in pipeline stage 2",
        ),
        ("{{ }}", "missing value for command"),
        ("{{ \"abc }}", "unterminated quoted string"),
        ("{{ (upper .X }}", "unclosed left paren"),
        (
            "{{ if .X }}{{ else }}{{ else }}{{ end }}",
            "{{else}} after {{else}}",
        ),
        ("a\nb\n{{ nope }}", "line 3"),
    ];
    for (src, want) in cases {
        let e = parse_error(src);
        assert!(e.contains(want), "{src:?}: got {e:?}, want {want:?}");
    }
}

// ------------------------------------------------------------------ overrides

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn entry(t: TemplateType, part: Part, uri: String) -> TemplateOverrides {
    TemplateOverrides {
        http: Default::default(),
        override_path: None,
        entries: vec![(t, part.channel(), part, uri)],
    }
}

#[tokio::test]
async fn kratos_style_override_via_file_uri_and_plain_path() {
    let path = format!("{FIXTURES}/kratos_style.gotmpl");
    for uri in [format!("file://{path}"), path.clone()] {
        let tpl = Templates::load(&entry(
            TemplateType::RecoveryCodeValid,
            Part::BodyPlaintext,
            uri,
        ))
        .await
        .unwrap();
        let r = tpl
            .render(TemplateType::RecoveryCodeValid, Channel::Email, &sample())
            .unwrap();
        assert_eq!(
            r.body,
            "Hi ada@example.com,\nyour recovery code is 123456.\n"
        );
        let r = tpl
            .render(
                TemplateType::RecoveryCodeValid,
                Channel::Email,
                &json!({"Identity": {"traits": {"email": "b@x"}}}),
            )
            .unwrap();
        assert_eq!(r.body, "Hi b@x,\nthere is no code for you.\n");
        // Other parts keep the built-ins.
        assert_eq!(r.subject, "Your account recovery code");
    }
}

#[tokio::test]
async fn override_via_base64() {
    let uri = format!("base64://{}", b64("Code: {{ .LoginCode | upper }}"));
    let tpl = Templates::load(&entry(TemplateType::LoginCodeValid, Part::SmsBody, uri))
        .await
        .unwrap();
    let r = tpl
        .render(
            TemplateType::LoginCodeValid,
            Channel::Sms,
            &json!({"LoginCode": "ab12"}),
        )
        .unwrap();
    assert_eq!(r.body, "Code: AB12");
    let html_uri = format!("base64://{}", b64("<!-- note --><i>{{ .To }}</i>"));
    let tpl = Templates::load(&entry(
        TemplateType::LoginCodeValid,
        Part::BodyHtml,
        html_uri,
    ))
    .await
    .unwrap();
    let r = tpl
        .render(
            TemplateType::LoginCodeValid,
            Channel::Email,
            &json!({"To": "<x>"}),
        )
        .unwrap();
    assert_eq!(r.html.unwrap(), "<i>&lt;x&gt;</i>");
}

/// Serves `body` with `status` to every connection until the test ends.
async fn serve(status: &'static str, body: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    format!("http://{addr}/subject.gotmpl")
}

#[tokio::test]
async fn override_via_http() {
    let uri = serve("200 OK", "Sign in to {{ .RequestURL }}\n").await;
    let tpl = Templates::load(&entry(TemplateType::LoginCodeValid, Part::Subject, uri))
        .await
        .unwrap();
    let r = tpl
        .render(
            TemplateType::LoginCodeValid,
            Channel::Email,
            &json!({"RequestURL": "https://app"}),
        )
        .unwrap();
    assert_eq!(r.subject, "Sign in to https://app");

    let uri = serve("404 Not Found", "gone").await;
    let err = Templates::load(&entry(TemplateType::LoginCodeValid, Part::Subject, uri))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("courier.templates.login_code.valid.email.subject") && msg.contains("404"),
        "{msg}"
    );
}

#[tokio::test]
async fn bad_templates_fail_at_load_naming_the_key() {
    let bad_file = format!("file://{FIXTURES}/bad.gotmpl");
    let err = Templates::load(&entry(
        TemplateType::RecoveryCodeValid,
        Part::BodyHtml,
        bad_file,
    ))
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("courier.templates.recovery_code.valid.email.body.html")
            && msg.contains("missing {{end}}"),
        "{msg}"
    );

    let unknown_fn = format!("base64://{}", b64("{{ sprigOnlyThing .To }}"));
    let err = Templates::load(&entry(
        TemplateType::VerificationInvalid,
        Part::Subject,
        unknown_fn,
    ))
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("courier.templates.verification.invalid.email.subject")
            && err.contains("sprigOnlyThing"),
        "{err}"
    );

    let missing = format!("file://{FIXTURES}/does-not-exist.gotmpl");
    let err = Templates::load(&entry(TemplateType::RecoveryValid, Part::SmsBody, missing))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("courier.templates.recovery.valid.sms.body.plaintext"),
        "{err}"
    );

    let err = Templates::load(&entry(
        TemplateType::RecoveryValid,
        Part::Subject,
        "ftp://x/y".into(),
    ))
    .await
    .unwrap_err();
    assert!(matches!(err, TemplateError::UnsupportedUri { .. }), "{err}");

    let mismatched = TemplateOverrides {
        http: Default::default(),
        override_path: None,
        entries: vec![(
            TemplateType::RecoveryValid,
            Channel::Sms,
            Part::Subject,
            "base64://eA==".into(),
        )],
    };
    let err = Templates::load(&mismatched).await.unwrap_err();
    assert!(
        matches!(err, TemplateError::ChannelMismatch { .. }),
        "{err}"
    );
}

#[tokio::test]
async fn render_errors_name_the_template() {
    let uri = format!("base64://{}", b64("{{ .To.nope }}"));
    let tpl = Templates::load(&entry(TemplateType::RecoveryInvalid, Part::Subject, uri))
        .await
        .unwrap();
    let err = tpl
        .render(
            TemplateType::RecoveryInvalid,
            Channel::Email,
            &json!({"To": "x"}),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("courier.templates.recovery.invalid.email.subject") && err.contains("line 1"),
        "{err}"
    );
}

#[tokio::test]
async fn override_path_directory_lookup() {
    let dir = PathBuf::from(format!("{FIXTURES}/override_dir"));
    let tpl = Templates::load(&TemplateOverrides {
        http: Default::default(),
        override_path: Some(dir.clone()),
        entries: Vec::new(),
    })
    .await
    .unwrap();
    let r = tpl
        .render(TemplateType::RecoveryCodeValid, Channel::Email, &sample())
        .unwrap();
    assert_eq!(r.body, "Dir override for ada@example.com: 123456\n");
    // email.body.gotmpl calls a template defined in its sibling email.body.layout.gotmpl.
    assert_eq!(
        r.html.unwrap(),
        "<p>Code <b>123456</b> for ada@example.com</p>\n"
    );
    assert_eq!(
        r.subject, "Your account recovery code",
        "no subject file: built-in stays"
    );
    let sms = tpl
        .render(TemplateType::LoginCodeValid, Channel::Sms, &sample())
        .unwrap();
    assert_eq!(sms.body, "Dir SMS code 111222");
    let untouched = tpl
        .render(TemplateType::VerificationValid, Channel::Email, &sample())
        .unwrap();
    assert_eq!(
        untouched,
        Templates::builtin()
            .render(TemplateType::VerificationValid, Channel::Email, &sample())
            .unwrap()
    );

    // A config URI beats the directory, as in Kratos.
    let tpl = Templates::load(&TemplateOverrides {
        http: Default::default(),
        override_path: Some(dir),
        entries: vec![(
            TemplateType::LoginCodeValid,
            Channel::Sms,
            Part::SmsBody,
            format!("base64://{}", b64("from config")),
        )],
    })
    .await
    .unwrap();
    assert_eq!(
        tpl.render(TemplateType::LoginCodeValid, Channel::Sms, &sample())
            .unwrap()
            .body,
        "from config"
    );

    // A missing directory falls back to the built-ins.
    let tpl = Templates::load(&TemplateOverrides {
        http: Default::default(),
        override_path: Some(PathBuf::from(format!("{FIXTURES}/no-such-dir"))),
        entries: Vec::new(),
    })
    .await
    .unwrap();
    assert!(
        tpl.render(TemplateType::LoginCodeValid, Channel::Sms, &sample())
            .unwrap()
            .body
            .contains("111222")
    );
}

#[tokio::test]
async fn override_path_bad_file_names_the_file() {
    let dir = std::env::temp_dir().join(format!("gatehouse-tpl-{}", std::process::id()));
    let sub = dir.join("verification/valid");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("email.subject.gotmpl"), "{{ range .X }}").unwrap();
    let err = Templates::load(&TemplateOverrides {
        http: Default::default(),
        override_path: Some(dir.clone()),
        entries: Vec::new(),
    })
    .await
    .unwrap_err()
    .to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        err.contains("verification/valid/email.subject.gotmpl") && err.contains("{{range}}"),
        "{err}"
    );
}

#[test]
fn overrides_from_courier_config() {
    let cfg: Courier = serde_json::from_value(json!({
        "template_override_path": "/etc/kratos/templates",
        "templates": {
            "recovery": {
                "invalid": {"email": {"subject": "file:///a"}},
                "valid": {"email": {"body": {"html": "base64://b"}}, "sms": {"body": {"plaintext": "http://c"}}}
            },
            "verification_code": {"valid": {"email": {"body": {"plaintext": "file:///d"}}}},
            "login_code": {"valid": {"sms": {"body": {"plaintext": "/e"}}}},
            "registration_code": {"valid": {"email": {"subject": ""}}}
        }
    }))
    .unwrap();
    let o = overrides_from_config(&cfg);
    assert_eq!(
        o.override_path,
        Some(PathBuf::from("/etc/kratos/templates"))
    );
    use TemplateType as T;
    assert_eq!(
        o.entries,
        vec![
            (
                T::RecoveryInvalid,
                Channel::Email,
                Part::Subject,
                "file:///a".to_owned()
            ),
            (
                T::RecoveryValid,
                Channel::Email,
                Part::BodyHtml,
                "base64://b".to_owned()
            ),
            (
                T::RecoveryValid,
                Channel::Sms,
                Part::SmsBody,
                "http://c".to_owned()
            ),
            (
                T::VerificationCodeValid,
                Channel::Email,
                Part::BodyPlaintext,
                "file:///d".to_owned()
            ),
            (
                T::LoginCodeValid,
                Channel::Sms,
                Part::SmsBody,
                "/e".to_owned()
            ),
        ]
    );
    assert_eq!(
        config_key(T::RecoveryValid, Part::SmsBody),
        "courier.templates.recovery.valid.sms.body.plaintext"
    );
    assert_eq!(
        overrides_from_config(&Courier::default()),
        TemplateOverrides::default()
    );
}

#[test]
fn type_and_channel_names_match_kratos() {
    for t in TemplateType::ALL {
        assert_eq!(serde_json::to_value(t).unwrap(), json!(t.as_str()));
        assert_eq!(t.as_str(), t.dir().replace('/', "_"));
    }
    assert_eq!(serde_json::to_value(Channel::Sms).unwrap(), json!("sms"));
}
