//! The route table: a pure function from (listener, method, path) to a route.

use http::Method;

use crate::selfservice::flow::{FlowKind, FlowType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

impl Listener {
    pub fn name(self) -> &'static str {
        match self {
            Listener::Public => "public",
            Listener::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    HealthAlive,
    HealthReady,
    /// Admin only: the revision of the configuration in force.
    HealthConfig,
    Version,
    Metrics,
    ListSchemas,
    GetSchema(String),
    ListIdentities,
    CreateIdentity,
    BatchPatchIdentities,
    GetIdentity(String),
    UpdateIdentity(String),
    PatchIdentity(String),
    DeleteIdentity(String),
    GetIdentityByExternalId(String),
    DeleteIdentityCredentials {
        id: String,
        kind: String,
    },
    StartFlow(FlowKind, FlowType),
    GetFlow(FlowKind),
    SubmitFlow(FlowKind),
    /// `GET /self-service/{recovery,verification}?flow=&token=|code=`: a link from an email.
    FlowLink(FlowKind),
    /// `GET|POST /self-service/methods/oidc/callback/{provider}`.
    OidcCallback(String),
    AdminRecoveryCode,
    AdminRecoveryLink,
    GetFlowError,
    Whoami,
    ListMySessions,
    DeleteMySessions,
    DeleteMySession(String),
    AdminListSessions,
    AdminGetSession(String),
    AdminDisableSession(String),
    AdminExtendSession(String),
    ListIdentitySessions(String),
    DeleteIdentitySessions(String),
    LogoutBrowser,
    LogoutSubmit,
    LogoutApi,
    ListCourierMessages,
    GetCourierMessage(String),
    /// `GET|DELETE /admin/lockouts?identifier=|identity_id=|address=` (Gatehouse's): the
    /// failed sign-in counters of `security.brute_force`, read or cleared.
    GetLockouts,
    DeleteLockouts,
    /// `/admin/tenants[/{id or name}]` (Gatehouse's): the tenants' own administration.
    ListTenants,
    CreateTenant,
    GetTenant(String),
    UpdateTenant(String),
    DeleteTenant(String),
    /// `GET /.well-known/ory/webauthn.js` (public): the WebAuthn and passkey browser script.
    WebauthnScript,
    /// `GET /ui/<page>` (public): a built-in self-service page (`""` is the home page).
    Page(String),
}

impl Route {
    /// The tenants' own administration: only the default network's admin keys reach it.
    pub fn is_tenant_administration(&self) -> bool {
        matches!(
            self,
            Route::ListTenants
                | Route::CreateTenant
                | Route::GetTenant(_)
                | Route::UpdateTenant(_)
                | Route::DeleteTenant(_)
        )
    }

    /// The route's pattern, used as the metrics label (never the raw path: ids would explode
    /// the label set).
    pub fn pattern(&self) -> &'static str {
        match self {
            Route::HealthAlive => "/health/alive",
            Route::HealthReady => "/health/ready",
            Route::HealthConfig => "/health/config",
            Route::Version => "/version",
            Route::Metrics => "/metrics/prometheus",
            Route::ListSchemas => "/schemas",
            Route::GetSchema(_) => "/schemas/{id}",
            Route::ListIdentities | Route::CreateIdentity | Route::BatchPatchIdentities => {
                "/identities"
            }
            Route::GetIdentity(_)
            | Route::UpdateIdentity(_)
            | Route::PatchIdentity(_)
            | Route::DeleteIdentity(_) => "/identities/{id}",
            Route::GetIdentityByExternalId(_) => "/identities/by/external/{externalID}",
            Route::DeleteIdentityCredentials { .. } => "/identities/{id}/credentials/{type}",
            Route::StartFlow(FlowKind::Login, FlowType::Browser) => "/self-service/login/browser",
            Route::StartFlow(FlowKind::Login, FlowType::Api) => "/self-service/login/api",
            Route::StartFlow(FlowKind::Registration, FlowType::Browser) => {
                "/self-service/registration/browser"
            }
            Route::StartFlow(FlowKind::Registration, FlowType::Api) => {
                "/self-service/registration/api"
            }
            Route::StartFlow(FlowKind::Recovery, FlowType::Browser) => {
                "/self-service/recovery/browser"
            }
            Route::StartFlow(FlowKind::Recovery, FlowType::Api) => "/self-service/recovery/api",
            Route::StartFlow(FlowKind::Verification, FlowType::Browser) => {
                "/self-service/verification/browser"
            }
            Route::StartFlow(FlowKind::Verification, FlowType::Api) => {
                "/self-service/verification/api"
            }
            Route::StartFlow(FlowKind::Settings, FlowType::Browser) => {
                "/self-service/settings/browser"
            }
            Route::StartFlow(FlowKind::Settings, FlowType::Api) => "/self-service/settings/api",
            Route::GetFlow(FlowKind::Settings) => "/self-service/settings/flows",
            Route::SubmitFlow(FlowKind::Settings) => "/self-service/settings",
            Route::GetFlow(FlowKind::Login) => "/self-service/login/flows",
            Route::GetFlow(FlowKind::Registration) => "/self-service/registration/flows",
            Route::GetFlow(FlowKind::Recovery) => "/self-service/recovery/flows",
            Route::GetFlow(FlowKind::Verification) => "/self-service/verification/flows",
            Route::SubmitFlow(FlowKind::Login) => "/self-service/login",
            Route::SubmitFlow(FlowKind::Registration) => "/self-service/registration",
            Route::SubmitFlow(FlowKind::Recovery) | Route::FlowLink(FlowKind::Recovery) => {
                "/self-service/recovery"
            }
            Route::SubmitFlow(FlowKind::Verification) | Route::FlowLink(FlowKind::Verification) => {
                "/self-service/verification"
            }
            Route::FlowLink(_) => "/self-service/link",
            Route::OidcCallback(_) => "/self-service/methods/oidc/callback/{provider}",
            Route::AdminRecoveryCode => "/recovery/code",
            Route::AdminRecoveryLink => "/recovery/link",
            Route::GetFlowError => "/self-service/errors",
            Route::Whoami => "/sessions/whoami",
            Route::ListMySessions | Route::DeleteMySessions | Route::AdminListSessions => {
                "/sessions"
            }
            Route::DeleteMySession(_)
            | Route::AdminGetSession(_)
            | Route::AdminDisableSession(_) => "/sessions/{id}",
            Route::AdminExtendSession(_) => "/sessions/{id}/extend",
            Route::ListIdentitySessions(_) | Route::DeleteIdentitySessions(_) => {
                "/identities/{id}/sessions"
            }
            Route::LogoutBrowser => "/self-service/logout/browser",
            Route::LogoutSubmit => "/self-service/logout",
            Route::LogoutApi => "/self-service/logout/api",
            Route::ListCourierMessages => "/courier/messages",
            Route::GetCourierMessage(_) => "/courier/messages/{id}",
            Route::GetLockouts | Route::DeleteLockouts => "/lockouts",
            Route::ListTenants | Route::CreateTenant => "/tenants",
            Route::GetTenant(_) | Route::UpdateTenant(_) | Route::DeleteTenant(_) => {
                "/tenants/{id}"
            }
            Route::WebauthnScript => "/.well-known/ory/webauthn.js",
            Route::Page(_) => "/ui/{page}",
        }
    }
}

/// Every route of the admin listener as (method, pattern), as data: the API key tests walk it,
/// and a unit test below holds it to `route`. A new admin route is added here too. (`HEAD`
/// answers wherever `GET` does; every path is also served under `/admin`.)
pub const ADMIN_ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/health/alive"),
    (Method::GET, "/health/ready"),
    (Method::GET, "/health/config"),
    (Method::GET, "/version"),
    (Method::GET, "/metrics/prometheus"),
    (Method::GET, "/schemas"),
    (Method::GET, "/schemas/{id}"),
    (Method::GET, "/self-service/errors"),
    (Method::POST, "/recovery/code"),
    (Method::POST, "/recovery/link"),
    (Method::GET, "/sessions"),
    (Method::GET, "/sessions/{id}"),
    (Method::DELETE, "/sessions/{id}"),
    (Method::PATCH, "/sessions/{id}/extend"),
    (Method::GET, "/identities/{id}/sessions"),
    (Method::DELETE, "/identities/{id}/sessions"),
    (Method::GET, "/courier/messages"),
    (Method::GET, "/courier/messages/{id}"),
    (Method::GET, "/lockouts"),
    (Method::DELETE, "/lockouts"),
    (Method::GET, "/tenants"),
    (Method::POST, "/tenants"),
    (Method::GET, "/tenants/{id}"),
    (Method::PUT, "/tenants/{id}"),
    (Method::DELETE, "/tenants/{id}"),
    (Method::GET, "/identities"),
    (Method::POST, "/identities"),
    (Method::PATCH, "/identities"),
    (Method::GET, "/identities/by/external/{externalID}"),
    (Method::GET, "/identities/{id}"),
    (Method::PUT, "/identities/{id}"),
    (Method::PATCH, "/identities/{id}"),
    (Method::DELETE, "/identities/{id}"),
    (Method::DELETE, "/identities/{id}/credentials/{type}"),
];

/// A path for `pattern` with each `{placeholder}` filled in (`sample`, or `password` for a
/// credential type).
pub fn sample_path(pattern: &str, sample: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg {
            "{type}" => "password",
            s if s.starts_with('{') => sample,
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[derive(Debug, PartialEq, Eq)]
pub enum Match {
    Found(Route),
    /// The path exists but not for this method; lists the methods it has.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

fn decode(seg: &str) -> String {
    percent_encoding::percent_decode_str(seg)
        .decode_utf8_lossy()
        .into_owned()
}

pub fn route(listener: Listener, method: &Method, path: &str) -> Match {
    // The admin port serves every route with and without the `/admin` prefix.
    let path = match listener {
        Listener::Admin => match path.strip_prefix("/admin") {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        },
        Listener::Public => path,
    };
    let path = path.trim_end_matches('/');
    // Routing runs for every request, whoami included: no allocation on the way to a match.
    // No route has more than a handful of segments; a longer path matches nothing.
    let mut buf = [""; 8];
    let mut n = 0;
    for seg in path.split('/').skip(1) {
        let Some(slot) = buf.get_mut(n) else {
            return Match::NotFound;
        };
        *slot = seg;
        n += 1;
    }
    let segs = &buf[..n];
    let admin = listener == Listener::Admin;
    let m = method.clone();
    let get_like = m == Method::GET || m == Method::HEAD;
    let pick = |options: &[(Method, Route)]| -> Match {
        for (om, r) in options {
            if *om == m || (*om == Method::GET && m == Method::HEAD) {
                return Match::Found(r.clone());
            }
        }
        Match::MethodNotAllowed(options.iter().map(|(m, _)| m.clone()).collect())
    };
    match segs {
        ["health", "alive"] => pick(&[(Method::GET, Route::HealthAlive)]),
        ["health", "ready"] => pick(&[(Method::GET, Route::HealthReady)]),
        ["health", "config"] if admin => pick(&[(Method::GET, Route::HealthConfig)]),
        ["version"] => pick(&[(Method::GET, Route::Version)]),
        ["metrics", "prometheus"] if admin => pick(&[(Method::GET, Route::Metrics)]),
        ["schemas"] => pick(&[(Method::GET, Route::ListSchemas)]),
        ["schemas", id] => pick(&[(Method::GET, Route::GetSchema(decode(id)))]),
        ["self-service", "errors"] => pick(&[(Method::GET, Route::GetFlowError)]),
        ["ui"] if !admin => pick(&[(Method::GET, Route::Page(String::new()))]),
        ["ui", page] if !admin => pick(&[(Method::GET, Route::Page(decode(page)))]),
        [".well-known", "ory", "webauthn.js"] if !admin => {
            pick(&[(Method::GET, Route::WebauthnScript)])
        }
        ["self-service", "methods", "oidc", "callback", provider] if !admin => {
            let p = decode(provider);
            pick(&[
                (Method::GET, Route::OidcCallback(p.clone())),
                (Method::POST, Route::OidcCallback(p)),
            ])
        }
        ["recovery", "code"] if admin => pick(&[(Method::POST, Route::AdminRecoveryCode)]),
        ["recovery", "link"] if admin => pick(&[(Method::POST, Route::AdminRecoveryLink)]),
        ["self-service", kind, rest @ ..]
            if !admin
                && matches!(
                    *kind,
                    "login" | "registration" | "recovery" | "verification" | "settings"
                ) =>
        {
            let k = match *kind {
                "login" => FlowKind::Login,
                "registration" => FlowKind::Registration,
                "recovery" => FlowKind::Recovery,
                "settings" => FlowKind::Settings,
                _ => FlowKind::Verification,
            };
            match rest {
                // Kratos serves the settings submit on GET too (a refresh login returns there).
                [] if k == FlowKind::Settings => pick(&[
                    (Method::POST, Route::SubmitFlow(k)),
                    (Method::GET, Route::SubmitFlow(k)),
                ]),
                [] if matches!(k, FlowKind::Recovery | FlowKind::Verification) => pick(&[
                    (Method::POST, Route::SubmitFlow(k)),
                    (Method::GET, Route::FlowLink(k)),
                ]),
                [] => pick(&[(Method::POST, Route::SubmitFlow(k))]),
                ["browser"] => pick(&[(Method::GET, Route::StartFlow(k, FlowType::Browser))]),
                ["api"] => pick(&[(Method::GET, Route::StartFlow(k, FlowType::Api))]),
                ["flows"] => pick(&[(Method::GET, Route::GetFlow(k))]),
                _ => Match::NotFound,
            }
        }
        // Kratos serves whoami on every method but DELETE; DELETE /sessions/whoami reaches it too,
        // through the delete-my-session route.
        ["sessions", "whoami"] if !admin => pick(&[
            (Method::GET, Route::Whoami),
            (Method::POST, Route::Whoami),
            (Method::PUT, Route::Whoami),
            (Method::PATCH, Route::Whoami),
            (Method::DELETE, Route::Whoami),
            (Method::CONNECT, Route::Whoami),
            (Method::OPTIONS, Route::Whoami),
            (Method::TRACE, Route::Whoami),
        ]),
        ["sessions"] if !admin => pick(&[
            (Method::GET, Route::ListMySessions),
            (Method::DELETE, Route::DeleteMySessions),
        ]),
        ["sessions", id] if !admin => pick(&[(Method::DELETE, Route::DeleteMySession(decode(id)))]),
        ["sessions"] if admin => pick(&[(Method::GET, Route::AdminListSessions)]),
        ["sessions", id] if admin => {
            let id = decode(id);
            pick(&[
                (Method::GET, Route::AdminGetSession(id.clone())),
                (Method::DELETE, Route::AdminDisableSession(id)),
            ])
        }
        ["sessions", id, "extend"] if admin => {
            pick(&[(Method::PATCH, Route::AdminExtendSession(decode(id)))])
        }
        ["identities", id, "sessions"] if admin => {
            let id = decode(id);
            pick(&[
                (Method::GET, Route::ListIdentitySessions(id.clone())),
                (Method::DELETE, Route::DeleteIdentitySessions(id)),
            ])
        }
        ["self-service", "logout"] if !admin => pick(&[(Method::GET, Route::LogoutSubmit)]),
        ["self-service", "logout", "browser"] if !admin => {
            pick(&[(Method::GET, Route::LogoutBrowser)])
        }
        ["self-service", "logout", "api"] if !admin => pick(&[(Method::DELETE, Route::LogoutApi)]),
        ["courier", "messages"] if admin => pick(&[(Method::GET, Route::ListCourierMessages)]),
        ["courier", "messages", id] if admin => {
            pick(&[(Method::GET, Route::GetCourierMessage(decode(id)))])
        }
        ["lockouts"] if admin => pick(&[
            (Method::GET, Route::GetLockouts),
            (Method::DELETE, Route::DeleteLockouts),
        ]),
        ["tenants"] if admin => pick(&[
            (Method::GET, Route::ListTenants),
            (Method::POST, Route::CreateTenant),
        ]),
        ["tenants", id] if admin => {
            let id = decode(id);
            pick(&[
                (Method::GET, Route::GetTenant(id.clone())),
                (Method::PUT, Route::UpdateTenant(id.clone())),
                (Method::DELETE, Route::DeleteTenant(id)),
            ])
        }
        ["identities"] if admin => pick(&[
            (Method::GET, Route::ListIdentities),
            (Method::POST, Route::CreateIdentity),
            (Method::PATCH, Route::BatchPatchIdentities),
        ]),
        ["identities", "by", "external", ext] if admin => {
            pick(&[(Method::GET, Route::GetIdentityByExternalId(decode(ext)))])
        }
        ["identities", id] if admin => {
            let id = decode(id);
            pick(&[
                (Method::GET, Route::GetIdentity(id.clone())),
                (Method::PUT, Route::UpdateIdentity(id.clone())),
                (Method::PATCH, Route::PatchIdentity(id.clone())),
                (Method::DELETE, Route::DeleteIdentity(id)),
            ])
        }
        ["identities", id, "credentials", kind] if admin => pick(&[(
            Method::DELETE,
            Route::DeleteIdentityCredentials {
                id: decode(id),
                kind: decode(kind),
            },
        )]),
        _ => {
            let _ = get_like;
            Match::NotFound
        }
    }
}

/// Go's `path.Clean`: one slash between segments, no `.` segments, `..` resolved against the
/// segment before it (never above the root), no trailing slash.
pub fn clean_path(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Where Kratos's router sends a request whose path only matches once cleaned
/// (`//self-service/login/flows` → `/self-service/login/flows`): the cleaned path, when it
/// is a route for this method, and `None` otherwise.
pub fn fixed_path(listener: Listener, method: &Method, path: &str) -> Option<String> {
    let cleaned = clean_path(path);
    if cleaned == path.trim_end_matches('/') || cleaned == path {
        return None;
    }
    match route(listener, method, &cleaned) {
        Match::Found(_) => Some(cleaned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn unclean_paths_are_cleaned_as_go_does() {
        assert_eq!(
            super::clean_path("//self-service//login/./flows"),
            "/self-service/login/flows"
        );
        assert_eq!(super::clean_path("/a/b/../c/"), "/a/c");
        assert_eq!(super::clean_path("/../../health/alive"), "/health/alive");
        assert_eq!(super::clean_path("/"), "/");
        let get = Method::GET;
        assert_eq!(
            super::fixed_path(Listener::Public, &get, "//self-service/login/flows"),
            Some("/self-service/login/flows".into())
        );
        assert_eq!(
            super::fixed_path(Listener::Admin, &get, "/admin//identities"),
            Some("/admin/identities".into())
        );
        // Clean already, or nothing to send it to: no redirect.
        assert_eq!(
            super::fixed_path(Listener::Public, &get, "/self-service/login/flows/"),
            None
        );
        assert_eq!(
            super::fixed_path(Listener::Public, &get, "//no/such/route"),
            None
        );
    }

    use super::*;

    #[test]
    fn admin_prefix_is_optional_on_admin_only() {
        for p in ["/identities", "/admin/identities"] {
            assert_eq!(
                route(Listener::Admin, &Method::GET, p),
                Match::Found(Route::ListIdentities)
            );
        }
        assert_eq!(
            route(Listener::Public, &Method::GET, "/admin/identities"),
            Match::NotFound
        );
        assert_eq!(
            route(Listener::Public, &Method::GET, "/identities"),
            Match::NotFound
        );
        assert_eq!(
            route(Listener::Admin, &Method::GET, "/admin/health/ready"),
            Match::Found(Route::HealthReady)
        );
    }

    #[test]
    fn the_admin_route_table_is_the_admin_router() {
        use std::collections::BTreeSet;
        let other = Method::from_bytes(b"BREW").unwrap();
        for (method, pattern) in ADMIN_ROUTES {
            let path = sample_path(pattern, "0b6c3f2e-9d3a-4a8e-8a55-3a1c6a0e7f10");
            for p in [path.clone(), format!("/admin{path}")] {
                match route(Listener::Admin, method, &p) {
                    Match::Found(r) => assert_eq!(r.pattern(), *pattern, "{method} {p}"),
                    m => panic!("{method} {p}: {m:?}"),
                }
            }
            // The table lists every method the path has.
            let Match::MethodNotAllowed(allowed) = route(Listener::Admin, &other, &path) else {
                panic!("{path} answers any method");
            };
            let listed: BTreeSet<&str> = ADMIN_ROUTES
                .iter()
                .filter(|(_, p)| sample_path(p, "x") == sample_path(pattern, "x"))
                .map(|(m, _)| m.as_str())
                .collect();
            let routed: BTreeSet<&str> = allowed.iter().map(Method::as_str).collect();
            assert_eq!(listed, routed, "methods of {pattern}");
        }
    }

    #[test]
    fn ids_methods_and_fallbacks() {
        assert_eq!(
            route(
                Listener::Admin,
                &Method::DELETE,
                "/admin/identities/abc/credentials/password"
            ),
            Match::Found(Route::DeleteIdentityCredentials {
                id: "abc".into(),
                kind: "password".into()
            })
        );
        assert_eq!(
            route(
                Listener::Admin,
                &Method::GET,
                "/admin/identities/by/external/a%2Fb"
            ),
            Match::Found(Route::GetIdentityByExternalId("a/b".into()))
        );
        assert!(matches!(
            route(Listener::Admin, &Method::POST, "/identities/x"),
            Match::MethodNotAllowed(_)
        ));
        assert_eq!(
            route(Listener::Public, &Method::HEAD, "/health/alive"),
            Match::Found(Route::HealthAlive)
        );
        assert_eq!(
            route(Listener::Public, &Method::GET, "/nope"),
            Match::NotFound
        );
        assert_eq!(
            route(Listener::Public, &Method::GET, "/metrics/prometheus"),
            Match::NotFound
        );
    }
}
